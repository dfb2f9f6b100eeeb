"""What the job's encoder tasks share: examples in memory, reading them, the vocabulary, the backbone.

`EncoderTask` is the base of the tasks that train an encoder with a task head
(classification and NER in `trainers.tasks`, question answering in
`trainers.qa_task`): it reads the training and evaluation files named by flags
(or DEMO data), takes its WordPiece vocabulary from the backbone or the
teacher (and with a teacher, the teacher's labels), and reports the final
evaluation.
"""

import dataclasses

import tensorflow as tf

from keras_simpletf import text
from keras_simpletf.models.task import FEATURE_NAMES
from trainers import distill, export
from trainers.backbones import JobBackbone
from trainers.config import SettingsError, labels_from_teacher


@dataclasses.dataclass(frozen=True)
class Examples:
    """Raw examples held in memory; the task's `columns` makes them tensors.

    Attributes:
        inputs: texts (classification) or lists of words (NER).
        labels: label strings, or lists of tags (NER); `None` for the
            texts the teacher labels (`--unlabelled_data`, `--augmented_copies`).
        source: where they come from: a path, or the DEMO data's name.
        pairs: the second texts of sentence pairs (classification), or `None`.
    """

    inputs: list
    labels: list
    source: str
    pairs: list = None

    def __len__(self):
        return len(self.inputs)


class EncoderTask:
    """What the encoder tasks share: reading the data, the vocabulary, the encoder backbone."""

    name = None  # The --task value.
    metric_name = None  # The key of the reported metric in evaluation results.
    metric_label = None  # How `report` calls that metric.
    unit = None  # What one example is.
    transfer_unit = "texts"  # What one example the teacher labels is.
    lowercase = None  # Our backbone's casing when --lowercase is unset.

    def __init__(self, settings):
        self.settings = settings
        self._set_teacher_and_backbone(settings)
        self.train_examples, self.eval_examples = self._read_examples(settings)
        self.labels = list(self.teacher.model.labels) if self.teacher else self._label_names()
        self._check_labels()
        self.vocabulary = self._vocabulary()
        if labels_from_teacher(settings):
            inputs, source = distill.transfer_texts(settings, self.name, self.train_examples)
            self.train_examples = Examples(inputs, None, source)
        self.label_encoder = text.LabelEncoder(self.labels)

    def _set_teacher_and_backbone(self, settings):
        """`--teacher` (`None` without one) and the backbone, which reads text cased as the
        teacher did, else as the task does."""
        self.teacher = distill.teacher_of(settings, self.name)
        lowercase = self.teacher.lowercase if self.teacher else self.lowercase
        self.backbone = JobBackbone(settings, default_lowercase=lowercase)

    def _vocabulary(self):
        """The teacher's tokens (a student reads text as its teacher does), else the backbone's."""
        if self.teacher:
            return self.teacher.vocabulary
        return self.backbone.vocabulary(self._texts)

    def _read_examples(self, settings):
        if settings.train_data is None:
            return self._demo_examples(settings)
        train = self._read_file("train_data", settings.train_data)
        evaluation = None
        if settings.eval_data:
            evaluation = self._read_file("eval_data", settings.eval_data)
        return train, evaluation

    def _read_file(self, flag, path):
        """All examples of `path`; a missing, malformed or empty file names the flag.

        The readers' Python iterators, not their `tf.data` datasets: a
        `DataError` ("path:line: problem") then reaches the user as it is,
        not inside the traceback of a TensorFlow op.
        """
        if not tf.io.gfile.exists(path):
            raise SettingsError(f"--{flag}={path}: no such file.")
        try:
            records = list(self._records(path))
        except ValueError as error:  # DataError, or reader arguments that cannot work.
            raise SettingsError(f"--{flag}={path}: {error}{self._reading_hint()}") from None
        if not records:
            raise SettingsError(f"--{flag}={path}: the file holds no examples.")
        return self._examples(records, path)

    def _reading_hint(self):
        """What to add to an error in a data file: the flags that say how it is read."""
        return ""

    def _check_labels(self):
        """Refuses a label outside `labels`: with `--teacher` (the student learns in its label
        ids) a training or evaluation label the teacher lacks, DEMO data's included; else an
        evaluation label the training file lacks."""
        settings = self.settings
        checked = (("train_data", self.train_examples), ("eval_data", self.eval_examples))
        if self.teacher:
            owner = f"--teacher={settings.teacher}"
        elif settings.train_data:
            owner, checked = f"--train_data={settings.train_data}", checked[1:]
        else:
            return
        for flag, examples in checked:
            if examples is None:
                continue
            unknown = sorted(set(self._flat_labels(examples)) - set(self.labels))
            if unknown:
                where = (
                    f"--{flag}={examples.source}" if settings.train_data
                    else f"The {examples.source} data"
                )
                raise SettingsError(
                    f"{where}: labels {unknown} do not occur in {owner}, whose labels are "
                    f"{self.labels}."
                )

    def _encoder(self):
        return self.backbone.build(len(self.vocabulary))

    def transfer_features(self):
        """A function from rows of `train_examples` (an int64 vector) to their features: what
        the teacher labels when it labels the training examples (`trainers.inputs`)."""
        inputs = self.train_examples.inputs
        # A word list per sentence (NER) is ragged; a text per example is not.
        column = tf.ragged.constant(inputs) if isinstance(inputs[0], list) else tf.constant(inputs)

        def features(rows):
            all_features = self.preprocessor(tf.gather(column, rows))
            return {name: all_features[name] for name in FEATURE_NAMES}

        return features

    def feature_sample(self, count=256):
        """The features of the first `count` training examples (all, if fewer): what a
        student of MiniLM's layers measures their feed-forward neurons' activity on
        (`distillation.make_student`'s `pruning_features`)."""
        rows = tf.range(min(count, len(self.train_examples)), dtype=tf.int64)
        return self.transfer_features()(rows)

    def describe(self):
        """One line on the backbone and its vocabulary."""
        return self.backbone.describe(self.vocabulary)

    def export(self, model, export_dir):
        """The files `trainers.export.export_trained_model` writes for `model`."""
        return export.export_trained_model(model, self.preprocessor, export_dir)

    def final_results(self, model, results):
        """The final evaluation `results` of the loop, with what the task adds."""
        return results

    def report(self, results):
        """One line on the final evaluation `results` (a dict of metric values)."""
        evaluation = self.eval_examples
        return (
            f"{evaluation.source} {self.metric_label} on {len(evaluation)} held-out "
            f"{self.unit}: {results[self.metric_name]:.4f}"
        )
