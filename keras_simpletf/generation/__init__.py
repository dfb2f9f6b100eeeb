"""In-graph decoding over any decoder: greedy, sampling and beam search, all in one `tf.while_loop`.

A decoder takes part through a step function, `step(token_ids, index, cache)
-> (logits, cache)`: `token_ids` is the `(batch, max_length + 1)` buffer of
the tokens so far (the start token at position 0), `index` the position of
the last token written, `logits` `(batch, vocabulary_size)` for position
`index + 1`, and `cache` any nested structure of tensors with a leading
batch dimension and static shapes (a key/value cache, or `{}`).

The loops are written with `tf.while_loop` and need no AutoGraph: the public
functions are marked `do_not_convert`, so tracing them inside a `tf.function`
neither rewrites nor re-reads their source.
"""

from keras_simpletf.generation.beam_search import beam_search, gnmt_length_penalty
from keras_simpletf.generation.sampling import greedy_search, sample

__all__ = ["beam_search", "gnmt_length_penalty", "greedy_search", "sample"]
