"""The question-answering task of the job (`--task=qa`): SQuAD-format data, span model, EM/F1.

Files are SQuAD v1.1/v2.0 JSON or JSON Lines (`keras_simpletf.data.iter_squad`);
DEMO data is `data.demo_qa`. Each question becomes one or more windows over its
context (`text.QuestionAnsweringPreprocessor`, `--doc_stride`), labelled with
the first gold answer's first and last token, or `[CLS]` where the answer is
not in the window. The windows are cut once, when the task is created, and
are the units both loops train and evaluate on; the final evaluation answers
every evaluation question from the raw text (`SpanQuestionAnswerer.predict_answers`)
and scores it as the official SQuAD script does (`metrics.squad_scores`).

With `--teacher` and `--augmented_copies`, variants of the training questions
(`distillation.augment_questions`) join them; the teacher labels every
training window once and the student learns its start and end distributions
alone.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf import data, distillation, metrics, models, text
from trainers.config import SettingsError
from trainers.encoder_task import EncoderTask

_WINDOW_COLUMNS = ("token_ids", "segment_ids")


@dataclasses.dataclass
class Questions:
    """Questions with their windows: what the QA task trains and evaluates on.

    Attributes:
        questions: list of `data.QuestionAnswer`.
        source: a path, or the DEMO data's name.
        windows: dict of numpy arrays, one row per window: `token_ids`,
            `segment_ids` and `positions` `(windows, 2)`; set by the task.
    """

    questions: list
    source: str
    windows: dict = None

    def __len__(self):
        """The number of windows: the examples the loops see."""
        return len(self.windows["positions"])


class QuestionAnsweringTask(EncoderTask):
    """Extractive question answering with `models.SpanQuestionAnswerer`, scored by SQuAD EM/F1."""

    name = "qa"
    metric_name = "exact_match"
    progress_metric_name = "position_accuracy"
    unit = "questions"
    transfer_unit = "windows"
    lowercase = True

    def __init__(self, settings):
        if settings.unlabelled_data:
            raise SettingsError(
                f"--unlabelled_data={settings.unlabelled_data} does not apply to --task=qa: its "
                "lines hold no question and context pairs."
            )
        self.settings = settings
        self._set_teacher_and_backbone(settings)
        self.train_examples, self.eval_examples = self._read_examples(settings)
        self.labels = []
        self.vocabulary = self._vocabulary()
        length = settings.sequence_length
        try:
            self.preprocessor = text.QuestionAnsweringPreprocessor(
                self.vocabulary,
                sequence_length=length,
                doc_stride=settings.doc_stride or length // 3,
                max_question_length=settings.max_question_length or length // 3,
                lowercase=self.backbone.lowercase,
            )
        except ValueError as error:
            raise SettingsError(
                f"--sequence_length={length}, --doc_stride={settings.doc_stride}, "
                f"--max_question_length={settings.max_question_length}: {error}"
            ) from None
        if settings.augmented_copies:
            variants = distillation.augment_questions(
                self.train_examples.questions, settings.augmented_copies, seed=settings.seed
            )
            self.train_examples = Questions(
                self.train_examples.questions + variants,
                f"{self.train_examples.source} and {len(variants)} variants of its questions",
            )
        for examples in (self.train_examples, self.eval_examples):
            if examples is not None:
                examples.windows = self._windows(examples.questions)

    def _demo_examples(self, settings):
        train = data.demo_qa(settings.train_examples, seed=settings.seed)
        evaluation = data.demo_qa(settings.eval_examples, seed=settings.seed + 1)
        return Questions(train, "DEMO"), Questions(evaluation, "DEMO")

    def _records(self, path):
        return data.iter_squad(path)

    def _examples(self, records, path):
        return Questions(records, path)

    def _texts(self):
        return [q.question for q in self.train_examples.questions] + sorted(
            {q.context for q in self.train_examples.questions}
        )

    def _windows(self, questions):
        """The windows of `questions`, labelled with each one's first gold answer."""
        columns = data.labelled_columns(questions)
        windows = {key: [] for key in (*_WINDOW_COLUMNS, "positions")}
        batches = tf.data.Dataset.from_tensor_slices(columns).batch(256).map(self.preprocessor)
        for features, positions in batches:
            for key in _WINDOW_COLUMNS:
                windows[key].append(features[key].numpy())
            windows["positions"].append(positions.numpy())
        return {key: np.concatenate(value) for key, value in windows.items()}

    def columns(self, examples):
        """`(token_ids, segment_ids, positions)`: int32 tensors, a row per window."""
        return tuple(
            tf.constant(examples.windows[key]) for key in (*_WINDOW_COLUMNS, "positions")
        )

    def transfer_features(self):
        """A function from rows of the training windows (an int64 vector) to their features."""
        columns = self.columns(self.train_examples)
        return lambda rows: self.preprocess(*(tf.gather(column, rows) for column in columns))[0]

    def preprocess(self, token_ids, segment_ids, positions):
        """A batch of `columns` rows as `(features, positions)`."""
        features = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": tf.not_equal(token_ids, self.preprocessor.pad_id),
        }
        return features, positions

    def build_model(self):
        return models.SpanQuestionAnswerer(
            self._encoder(),
            dropout=self.settings.dropout,
            null_score_threshold=self.settings.null_score_threshold,
        )

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name=self.progress_metric_name)]

    def final_results(self, model, results):
        """`results` with SQuAD `exact_match` and `f1` (and the v2.0 split) over every question."""
        questions = self.eval_examples.questions
        answers = model.predict_answers(
            [q.question for q in questions],
            [q.context for q in questions],
            self.preprocessor,
            batch_size=self.settings.batch_size,
        )
        # In question order, not by id: a file may repeat an id, and each question counts.
        return {
            **results,
            **metrics.squad_scores(
                [answer["text"] for answer in answers], [list(q.answers) for q in questions]
            ),
        }

    def report(self, results):
        """SQuAD EM and F1 over every held-out question, and the v2.0 split if any."""
        evaluation = self.eval_examples
        line = (
            f"{evaluation.source} SQuAD EM {results['exact_match']:.2f}, F1 {results['f1']:.2f} "
            f"on {results['total']} held-out questions (start/end token accuracy on their "
            f"{len(evaluation)} windows {results[self.progress_metric_name]:.4f})"
        )
        if "HasAns_total" in results:
            line += (
                f"; answerable ({results['HasAns_total']}) EM {results['HasAns_exact']:.2f} F1 "
                f"{results['HasAns_f1']:.2f}, unanswerable ({results['NoAns_total']}) EM "
                f"{results['NoAns_exact']:.2f}"
            )
        return line
