"""The job's distillation: `--teacher` (a trained task model) teaches a `--student` of our encoder.

With `--teacher`, the task reads its vocabulary from the teacher (so the
student's preprocessor, and the SavedModel it exports, is the teacher's
tokenizer), the model the loops train is a `TaskDistiller` and the model that
is evaluated and exported is its student.
"""

import os
import tempfile

import keras
import keras_hub
import tensorflow as tf

from keras_simpletf import distillation, models, text
from trainers.backbones import block_options
from trainers.config import SettingsError
from trainers.export import MODEL_FILE, VOCABULARY_FILE

TASK_MODELS = {
    "classification": models.TextClassifier,
    "ner": models.TokenClassifier,
    "qa": models.SpanQuestionAnswerer,
}


class Teacher:
    """A trained task model and its vocabulary, from `--teacher`.

    `--teacher` is a job's `--export_dir` (its `model.keras` and
    `vocabulary.txt`) or a `.keras` file with `vocabulary.txt` beside it.
    The casing is the vocabulary's: one without an upper-case token (the
    `[...]` specials aside) was read lower-cased, as the pretrained MiniLM's
    is, so the student's text is lower-cased too, whatever the task's own
    default; a cased one keeps case. The student takes the teacher's
    positions: `--sequence_length` is at most the teacher's.

    Args:
        path: the `--teacher` value.
        task_name: the `--task` value; the teacher must be that task's model.
        sequence_length: the `--sequence_length` value.
        lowercase: the `--lowercase` value, `None` when unset.

    Attributes:
        model: the teacher task model.
        vocabulary: its token list.
        lowercase: bool, whether its tokenizer lower-cases.

    Raises:
        SettingsError: no such model or vocabulary, a model of another task,
            a `--lowercase` that contradicts the vocabulary's casing, or a
            `--sequence_length` longer than the teacher's positions.

    Example:

    ```python
    teacher = Teacher("/tmp/ner_export", "ner", 128)
    teacher.lowercase  # True for a teacher fine-tuned from the uncased MiniLM
    ```
    """

    def __init__(self, path, task_name, sequence_length, lowercase=None):
        model_path = path
        if tf.io.gfile.isdir(path):
            model_path = os.path.join(path, MODEL_FILE)
        vocabulary_path = os.path.join(os.path.dirname(model_path), VOCABULARY_FILE)
        for needed in (model_path, vocabulary_path):
            if not tf.io.gfile.exists(needed):
                raise SettingsError(
                    f"--teacher={path}: no {needed}; give a job's --export_dir, or a .keras "
                    f"file with its {VOCABULARY_FILE} beside it."
                )
        self.model = keras.saving.load_model(model_path)
        expected = TASK_MODELS[task_name]
        if not isinstance(self.model, expected):
            raise SettingsError(
                f"--teacher={path} is a {type(self.model).__name__}, not the "
                f"{expected.__name__} of --task={task_name}."
            )
        backbone = self.model.backbone
        positions = (
            backbone.max_sequence_length if isinstance(backbone, keras_hub.models.Backbone)
            else backbone.max_length
        )
        if sequence_length > positions:
            raise SettingsError(
                f"--sequence_length={sequence_length} exceeds the {positions} positions of "
                f"--teacher={path}: give --sequence_length={positions} or less."
            )
        self.vocabulary = text.read_vocabulary(vocabulary_path)
        self.lowercase = not any(
            token != token.lower() and not (token.startswith("[") and token.endswith("]"))
            for token in self.vocabulary
        )
        if lowercase not in (None, self.lowercase):
            casing = ("no upper-case token", "lower-cased") if self.lowercase else (
                "upper-case tokens", "cased"
            )
            raise SettingsError(
                f"--lowercase={lowercase} contradicts --teacher={path}: its vocabulary has "
                f"{casing[0]}, so the teacher read text {casing[1]}. Drop --lowercase."
            )
        self._cache = None

    def logits_cache_dir(self, model_dir):
        """Where the teacher's logits of the texts it labels are kept.

        `model_dir/teacher_logits` (a resumed job finds them there), or
        without a `--model_dir` a temporary directory that lasts as long as
        this object.
        """
        if model_dir:
            return os.path.join(model_dir, "teacher_logits")
        if self._cache is None:
            self._cache = tempfile.TemporaryDirectory(prefix="teacher_logits_")
        return self._cache.name

    def distiller(self, settings, pruning_features=None):
        """A `TaskDistiller` of a fresh `--student` (build it in the strategy's scope): soft
        targets, and attention relations with `--attention_relation_heads`.

        `pruning_features` (a batch of training features) choose the feed-forward neurons a
        student of MiniLM's layers keeps under a smaller `--intermediate_dim`
        (`distillation.make_student`). A `--null_score_threshold` is the student's; unset, it
        keeps the teacher's.
        """
        try:
            student = distillation.make_student(
                self.model,
                settings.student,
                initialize=None if settings.student_init == "none" else settings.student_init,
                dropout=settings.dropout,
                pruning_features=pruning_features,
                **block_options(settings),
            )
        except ValueError as error:
            raise SettingsError(f"--student_init={settings.student_init}: {error}") from None
        if settings.null_score_threshold is not None:  # --task=qa only
            student.null_score_threshold = settings.null_score_threshold
        losses = [
            distillation.SoftTargetDistillation(
                settings.temperature, multi_label=getattr(student, "multi_label", False)
            )
        ]
        heads = settings.attention_relation_heads
        if heads:
            losses.append(distillation.AttentionRelationDistillation(heads))
        try:
            return distillation.TaskDistiller(
                self.model, student, losses, student_loss_weight=settings.student_loss_weight
            )
        except ValueError as error:
            if not heads:
                raise
            # Widths the relation heads do not divide.
            raise SettingsError(f"--attention_relation_heads={heads}: {error}") from None


def teacher_of(settings, task_name):
    """The `Teacher` of `--teacher`, or `None` without one."""
    if not settings.teacher:
        return None
    return Teacher(settings.teacher, task_name, settings.sequence_length, settings.lowercase)


def transfer_texts(settings, task_name, training):
    """What the teacher labels for the student: `(inputs, source)`.

    The texts of `--unlabelled_data`, else the training examples' inputs, and
    `--augmented_copies` variants of each (`keras_simpletf.distillation.augment`).

    Args:
        settings: the job's settings.
        task_name: the `--task` value.
        training: the task's training `Examples`.

    Raises:
        SettingsError: variants asked of sentence pairs, which they would pull apart.
    """
    if settings.unlabelled_data:
        inputs = read_unlabelled(settings.unlabelled_data, task_name)
        source = settings.unlabelled_data
    elif training.pairs is not None:
        raise SettingsError(
            f"--augmented_copies cannot vary the sentence pairs of --text_pair_column="
            f"{settings.text_pair_column}: a variant is made of one text."
        )
    else:
        inputs, source = list(training.inputs), training.source
    if settings.augmented_copies:
        variants = distillation.augment(inputs, settings.augmented_copies, seed=settings.seed)
        inputs = inputs + variants
        source = f"{source} and {len(variants)} variants of its texts"
    return inputs, source


def read_unlabelled(path, task_name):
    """The examples of a `--unlabelled_data` file: its non-blank lines.

    Args:
        path: the file, plain UTF-8 text with one example a line (any path
            `tf.io.gfile` reads).
        task_name: the `--task` value: `"ner"` splits each line into words
            at whitespace.

    Returns:
        A list of texts, or of word lists for NER.

    Raises:
        SettingsError: no such file, a line that is not UTF-8, or no text.
    """
    if not tf.io.gfile.exists(path):
        raise SettingsError(f"--unlabelled_data={path}: no such file.")
    texts = []
    with tf.io.gfile.GFile(path, "rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line = line.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise SettingsError(
                    f"--unlabelled_data={path}:{number}: not UTF-8 text ({error.reason} at "
                    f"byte {error.start})."
                ) from None
            if line:
                texts.append(line.split() if task_name == "ner" else line)
    if not texts:
        raise SettingsError(f"--unlabelled_data={path}: the file holds no text.")
    return texts
