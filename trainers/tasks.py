"""The tasks the job trains: what the examples are, how they become tensors, the model, the metrics.

A task reads its training and evaluation examples (files named by flags, or
DEMO data), learns the WordPiece vocabulary from the training texts, and owns
the preprocessor and label encoder that turn a batch of raw examples into
`(features, label_ids)`; `trainers.inputs` shapes those into the batches both
loops train on.
"""

import dataclasses

import keras
import tensorflow as tf

from keras_simpletf import data, layers, metrics, models, text
from trainers.config import SettingsError


@dataclasses.dataclass(frozen=True)
class Examples:
    """Raw examples held in memory; the task's `columns` makes them tensors.

    Attributes:
        inputs: texts (classification) or lists of words (NER).
        labels: label strings, or lists of tags (NER).
        source: where they come from: a path, or the DEMO data's name.
    """

    inputs: list
    labels: list
    source: str

    def __len__(self):
        return len(self.inputs)


class _Task:
    """What both tasks share: reading the data, the vocabulary, the encoder backbone."""

    name = None  # The --task value.
    metric_name = None  # The key of the reported metric in evaluation results.
    metric_label = None  # How `report` calls that metric.
    unit = None  # What one example is.

    def __init__(self, settings):
        self.settings = settings
        self.train_examples, self.eval_examples = self._read_examples(settings)
        self.labels = self._label_names()
        self._check_eval_labels()
        self.vocabulary = text.learn_vocabulary(self._texts(), settings.vocabulary_size)
        self.label_encoder = text.LabelEncoder(self.labels)

    def _read_examples(self, settings):
        if settings.train_data is None:
            return self._demo_examples(settings)
        train = self._read_file("train_data", settings.train_data)
        evaluation = None
        if settings.eval_data:
            evaluation = self._read_file("eval_data", settings.eval_data)
        return train, evaluation

    def _read_file(self, flag, path):
        """All examples of `path`; a missing, malformed or empty file names the flag."""
        if not tf.io.gfile.exists(path):
            raise SettingsError(f"--{flag}={path}: no such file.")
        try:
            records = list(self._reader(path).as_numpy_iterator())
        except (ValueError, tf.errors.OpError) as error:
            message = getattr(error, "message", None) or str(error)
            raise SettingsError(f"--{flag}={path}: {message}") from None
        if not records:
            raise SettingsError(f"--{flag}={path}: the file holds no examples.")
        return self._examples(records, path)

    def _check_eval_labels(self):
        if self.eval_examples is None or self.settings.train_data is None:
            return
        unknown = sorted(set(self._flat_labels(self.eval_examples)) - set(self.labels))
        if unknown:
            raise SettingsError(
                f"--eval_data={self.settings.eval_data}: labels {unknown} do not occur in "
                f"--train_data={self.settings.train_data}, whose labels are {self.labels}."
            )

    def _encoder(self):
        settings = self.settings
        return layers.TransformerEncoder(
            vocabulary_size=len(self.vocabulary),
            num_layers=settings.num_layers,
            hidden_dim=settings.hidden_dim,
            max_length=settings.sequence_length,
            num_heads=settings.num_heads,
            num_kv_heads=settings.num_kv_heads,
            layout=settings.layout,
            norm=settings.norm,
            residual=settings.residual,
            value_free=settings.value_free,
            dropout=settings.dropout,
        )

    def report(self, results):
        """One line on the final evaluation `results` (a dict of metric values)."""
        evaluation = self.eval_examples
        return (
            f"{evaluation.source} {self.metric_label} on {len(evaluation)} held-out "
            f"{self.unit}: {results[self.metric_name]:.4f}"
        )


class ClassificationTask(_Task):
    """Text classification (one label per text) with `models.TextClassifier`.

    Files are read with `keras_simpletf.data.read_classification` (TSV, CSV or
    JSON Lines with `text` and `label` columns); the labels are those of the
    training file, sorted. DEMO data is `data.demo_sentiment`.
    """

    name = "classification"
    metric_name = "accuracy"
    metric_label = "accuracy"
    unit = "examples"

    def __init__(self, settings):
        super().__init__(settings)
        self.preprocessor = text.ClassificationPreprocessor(
            self.vocabulary, sequence_length=settings.sequence_length
        )

    def _demo_examples(self, settings):
        train = data.demo_sentiment(settings.train_examples, seed=settings.seed)
        evaluation = data.demo_sentiment(settings.eval_examples, seed=settings.seed + 1)
        return Examples(*train, "DEMO sentiment"), Examples(*evaluation, "DEMO sentiment")

    def _reader(self, path):
        return data.read_classification(path)

    def _examples(self, records, path):
        return Examples(
            [record["text"].decode("utf-8") for record in records],
            [record["label"].decode("utf-8") for record in records],
            path,
        )

    def _label_names(self):
        if self.settings.train_data is None:
            return list(data.SENTIMENT_LABELS)
        return sorted(set(self.train_examples.labels))

    def _flat_labels(self, examples):
        return examples.labels

    def _texts(self):
        return self.train_examples.inputs

    def columns(self, examples):
        """`(texts, labels)`: string tensors with one row per example."""
        return tf.constant(examples.inputs), tf.constant(examples.labels)

    def preprocess(self, texts, labels):
        """A batch of `columns` rows as `(features, label_ids)`."""
        return self.preprocessor(texts), self.label_encoder(labels)

    def build_model(self):
        return models.TextClassifier(
            self._encoder(), labels=self.labels, dropout=self.settings.dropout
        )

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name=self.metric_name)]


class NerTask(_Task):
    """Named-entity recognition with `models.TokenClassifier`, scored by entity F1.

    Files are CoNLL, read with `keras_simpletf.data.read_conll` (tags become
    IOB2); the tags are `"O"` then the training file's others, sorted. DEMO
    data is `data.demo_ner`.
    """

    name = "ner"
    metric_name = "entity_f1"
    metric_label = "NER entity F1"
    unit = "sentences"

    def __init__(self, settings):
        super().__init__(settings)
        self.preprocessor = text.TokenClassificationPreprocessor(
            self.vocabulary, sequence_length=settings.sequence_length
        )

    def _demo_examples(self, settings):
        train = data.demo_ner(settings.train_examples, seed=settings.seed)
        evaluation = data.demo_ner(settings.eval_examples, seed=settings.seed + 1)
        return Examples(*train, "DEMO"), Examples(*evaluation, "DEMO")

    def _reader(self, path):
        return data.read_conll(path)

    def _examples(self, records, path):
        def strings(values):
            return [value.decode("utf-8") for value in values]

        return Examples(
            [strings(record["tokens"]) for record in records],
            [strings(record["tags"]) for record in records],
            path,
        )

    def _label_names(self):
        if self.settings.train_data is None:
            return list(data.NER_TAGS)
        return ["O"] + sorted(set(self._flat_labels(self.train_examples)) - {"O"})

    def _flat_labels(self, examples):
        return [tag for tags in examples.labels for tag in tags]

    def _texts(self):
        return [" ".join(words) for words in self.train_examples.inputs]

    def columns(self, examples):
        """`(words, tags)`: ragged string tensors with one row per sentence."""
        return tf.ragged.constant(examples.inputs), tf.ragged.constant(examples.labels)

    def preprocess(self, words, tags):
        """A batch of `columns` rows as `(features, piece_tag_ids)`."""
        return self.preprocessor(words, self.label_encoder(tags))

    def build_model(self):
        return models.TokenClassifier(
            self._encoder(), labels=self.labels, dropout=self.settings.dropout
        )

    def metrics(self):
        return [metrics.EntityF1(self.labels, name=self.metric_name)]


TASKS = {task.name: task for task in (ClassificationTask, NerTask)}


def create_task(settings):
    """The task `settings.task` names, with its examples read and vocabulary learned.

    Raises:
        SettingsError: a data file is missing, malformed or empty, or the
            evaluation file has labels the training file does not.
    """
    return TASKS[settings.task](settings)
