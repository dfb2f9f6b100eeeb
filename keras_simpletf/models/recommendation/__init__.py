"""Recommenders over an item catalogue: baselines, two-tower and sequential retrieval, a ranker.

Retrieval models score every catalogue item for a query and return the top K:

- `MostPopularItems` (`baselines`): training popularity, one list for everyone;
- `EASE` (`baselines`): Steck's closed-form item-item model over the history;
- `IdTwoTowerRetrieval`, `TextTwoTowerRetrieval` (`two_tower`): a user
  tower against an item tower of ids or of item text, in-batch softmax;
- `SequentialRetrieval` (`sequential`): a causal Transformer of our blocks
  over the history against items read from text and id, full softmax and a
  learned item bias; items never seen in training are scored by their text.

`TextRanker` (`ranker`) scores given (user, candidate item text, side
features) pairs: the probability of a positive interaction, or a rating.

Queries, identical in all retrieval models: a dict of `"user_id"` (str
`(batch,)`) and/or `"history"` (str `(batch, H)`, the user's recent item
ids, most recent first, `""`-padded, or a list of lists), and optionally
`"exclude_item_ids"` (str `(batch, E)`, the same forms): items `recommend`
must not return, besides the history's (e.g. everything the user already
rated, when the history passed holds only the latest items).

- a user id never seen in training gets no id embedding; models that read
  the history then serve the user from it;
- history and excluded item ids outside the catalogue are ignored, like
  padding (`""`);
- a query with nothing the model can read (no known user, no known history
  item) is scored by the items' training popularity (the ranking of
  `MostPopularItems`);
- `recommend` never returns the history's or the excluded items unless `k`
  leaves no other choice (they are ranked last, with score `-inf`), and a
  `k` larger than the catalogue is a `ValueError`.

For serving: `catalogue_embeddings()` is the exact index (one row per
catalogue item), `encode_items` embeds new item texts (an `embed_items`
signature), and `recommend(features, k, item_embeddings)` is TensorFlow ops
only, so `tf.function` with string inputs traces it into a `recommend`
signature (see `serving.export`).
"""

from keras_simpletf.models.recommendation.baselines import EASE, MostPopularItems
from keras_simpletf.models.recommendation.ranker import TextRanker
from keras_simpletf.models.recommendation.sequential import SequentialRetrieval
from keras_simpletf.models.recommendation.two_tower import (
    IdTwoTowerRetrieval,
    TextTwoTowerRetrieval,
)

__all__ = [
    "EASE",
    "IdTwoTowerRetrieval",
    "MostPopularItems",
    "SequentialRetrieval",
    "TextRanker",
    "TextTwoTowerRetrieval",
]
