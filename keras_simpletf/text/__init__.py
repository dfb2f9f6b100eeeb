"""In-graph text processing: WordPiece and SentencePiece tokenizers, preprocessors, labels."""

from keras_simpletf.text.labels import LabelEncoder
from keras_simpletf.text.preprocessing import (
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    split_words,
)
from keras_simpletf.text.sentencepiece import (
    END_ID,
    PAD_ID,
    SPECIAL_PIECES,
    START_ID,
    SentencePieceTokenizer,
    learn_sentencepiece,
)
from keras_simpletf.text.seq2seq_preprocessing import Seq2SeqPreprocessor
from keras_simpletf.text.question_answering import QuestionAnsweringPreprocessor
from keras_simpletf.text.wordpiece import (
    SPECIAL_TOKENS,
    learn_vocabulary,
    read_vocabulary,
    wordpiece_tokenizer,
)
