"""The DEMO split every recommender test trains on: clicks before the time cut, queries after it."""

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data.demo_recommendation import DEMO_TIME_CUT, demo_recommendation
from keras_simpletf.data.splits import time_cut_split
from keras_simpletf.metrics.ranking import retrieval_report
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary

HISTORY_LENGTH = 5
SEQUENCE_LENGTH = 20
VOCABULARY_SIZE = 120


class DemoSplit:
    """DEMO clicks split at `DEMO_TIME_CUT` (items released later are cold), queries, a preprocessor."""

    def __init__(self):
        log = demo_recommendation()
        clicks = log.select(log.labels > 0)
        self.train, self.test = time_cut_split(clicks, DEMO_TIME_CUT)
        self.catalogue = log.catalogue
        self.item_ids = self.catalogue.item_ids
        self.counts = self.train.item_counts()
        self.users = self.test.users()
        self.queries = {
            "user_id": self.users,
            "history": self.train.recent_items(self.users, HISTORY_LENGTH),
        }
        self.preprocessor = ClassificationPreprocessor(
            learn_vocabulary(self.catalogue.texts, VOCABULARY_SIZE),
            sequence_length=SEQUENCE_LENGTH)
        self.item_token_ids = self.preprocessor(self.catalogue.texts)["token_ids"]

    def batches(self, examples, batch_size=128):
        """Shuffled (seed 0) batches of a dict of example arrays."""
        size = len(next(iter(examples.values())))
        return tf.data.Dataset.from_tensor_slices(examples).shuffle(size, seed=0).batch(batch_size)

    def report(self, model, queries=None):
        scores = np.asarray(model.scores(queries or self.queries))
        return retrieval_report(scores, self.users, self.train, self.test, k_values=(10, 50))


@pytest.fixture(scope="session")
def demo():
    return DemoSplit()
