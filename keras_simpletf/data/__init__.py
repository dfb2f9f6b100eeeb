"""Data: streaming readers for standard formats, splits, tag schemes, DEMO-data generators."""

from keras_simpletf.data.classification import iter_classification, read_classification
from keras_simpletf.data.conll import iter_conll, read_conll
from keras_simpletf.data.demo import NER_TAGS, SENTIMENT_LABELS, demo_ner, demo_sentiment
from keras_simpletf.data.demo_summarization import demo_summarization
from keras_simpletf.data.demo_translation import (
    DEMO_TRANSLATION_VOCABULARY,
    demo_translation,
    demo_translation_features,
)
from keras_simpletf.data.demo_qa import demo_qa
from keras_simpletf.data.demo_recommendation import (
    DEMO_TIME_CUT,
    DEMO_TIME_END,
    DEMO_TOPICS,
    demo_recommendation,
)
from keras_simpletf.data.errors import DataError
from keras_simpletf.data.interactions import (
    Interaction,
    InteractionLog,
    ItemCatalogue,
    UnknownItemReport,
    iter_interactions,
    iter_items,
    load_catalogue,
    load_interactions,
    read_interactions,
    read_items,
)
from keras_simpletf.data.movielens import (
    MOVIELENS_GENRES,
    MOVIELENS_SPLITS,
    MovieLensRatings,
    load_movielens_100k,
    load_movielens_items,
    load_movielens_ratings,
)
from keras_simpletf.data.parallel import LengthFilter, iter_parallel
from keras_simpletf.data.squad import QuestionAnswer, iter_squad, labelled_columns, read_squad
from keras_simpletf.data.splits import leave_last_out_split, time_cut_split
from keras_simpletf.data.tag_schemes import TagSchemeError, to_iob2
