"""In-graph text processing: WordPiece vocabularies, tokenizers, preprocessors."""

from keras_simpletf.text.preprocessing import ClassificationPreprocessor
from keras_simpletf.text.wordpiece import (
    SPECIAL_TOKENS,
    learn_vocabulary,
    read_vocabulary,
    wordpiece_tokenizer,
)
