"""In-graph text processing: WordPiece vocabularies, tokenizers, preprocessors, labels."""

from keras_simpletf.text.labels import LabelEncoder
from keras_simpletf.text.preprocessing import (
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    split_words,
)
from keras_simpletf.text.question_answering import QuestionAnsweringPreprocessor
from keras_simpletf.text.wordpiece import (
    SPECIAL_TOKENS,
    learn_vocabulary,
    read_vocabulary,
    wordpiece_tokenizer,
)
