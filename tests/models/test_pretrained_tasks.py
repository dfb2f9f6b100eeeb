"""NER fine-tuned from the pretrained MiniLM (skipped where it is not installed).

Its classification counterpart is the README's example, run and checked by tests/test_readme.py.
"""

import math

import keras
import tensorflow as tf
from seqeval.metrics import f1_score

from keras_simpletf.data import NER_TAGS, demo_ner
from keras_simpletf.models import TokenClassifier, bert_vocabulary, load_bert_backbone, minilm_preset
from keras_simpletf.text import LabelEncoder, TokenClassificationPreprocessor
from tests.pretrained import requires_minilm

pytestmark = requires_minilm
BATCH_SIZE = 16
EPOCHS = 1


def compile_for(model, examples):
    total_steps = EPOCHS * math.ceil(examples / BATCH_SIZE)
    model.compile(model.default_optimizer(total_steps, learning_rate=1e-4), model.default_loss())


def test_fine_tuned_minilm_finds_demo_entities():
    keras.utils.set_random_seed(0)
    vocabulary, lowercase = bert_vocabulary(minilm_preset())
    preprocessor = TokenClassificationPreprocessor(vocabulary, 32, lowercase, dynamic_padding=True)
    sentences, tags = demo_ner(480, seed=0)
    encode = LabelEncoder(NER_TAGS)
    train = (
        tf.data.Dataset.from_tensor_slices((tf.ragged.constant(sentences), tf.ragged.constant(tags)))
        .shuffle(480, seed=0)
        .ragged_batch(BATCH_SIZE)
        .map(lambda words, word_tags: preprocessor(words, encode(word_tags)))
    )
    model = TokenClassifier(load_bert_backbone(minilm_preset()), NER_TAGS, dropout=0.1)
    compile_for(model, len(sentences))
    model.fit(train, epochs=EPOCHS, verbose=0)
    test_sentences, test_tags = demo_ner(200, seed=5)
    assert f1_score(test_tags, model.predict_word_tags(test_sentences, preprocessor)) >= 0.9
