"""The tasks the job trains: what the examples are, how they become tensors, the model, the metrics.

A task reads its training and evaluation examples (files named by flags, or
DEMO data), takes its WordPiece vocabulary from the backbone
(`trainers.backbones`: learned from the training texts, or a pretrained
model's), and owns the preprocessor and label encoder that turn a batch of raw
examples into `(features, label_ids)`; `trainers.inputs` shapes those into the
batches both loops train on. After training, `final_results` scores the model
as a user meets it (NER: every word of every sentence, however long).
`TASKS` maps each `--task` to its class: classification and NER here, over
`trainers.encoder_task.EncoderTask`; question answering in `trainers.qa_task`;
translation and summarization in `trainers.seq2seq_task`.
"""

import re
import time

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf import data, metrics, models, text
from trainers.config import SettingsError
from trainers.encoder_task import EncoderTask, Examples
from trainers.qa_task import QuestionAnsweringTask
from trainers.seq2seq_task import SummarizationTask, TranslationTask


class ClassificationTask(EncoderTask):
    """Text (or text pair) classification, one label per example, with `models.TextClassifier`.

    Files are read with `keras_simpletf.data.iter_classification` (TSV, CSV or
    JSON Lines; the columns `--text_column`, `--label_column` and
    `--text_pair_column` name); the labels are those of the training file,
    sorted, at least two (with `--teacher`, the teacher's). DEMO data is
    `data.demo_sentiment`.
    """

    name = "classification"
    metric_name = "accuracy"
    metric_label = "accuracy"
    unit = "examples"
    lowercase = True

    def __init__(self, settings):
        super().__init__(settings)
        self.preprocessor = text.ClassificationPreprocessor(
            self.vocabulary,
            sequence_length=settings.sequence_length,
            lowercase=self.backbone.lowercase,
            dynamic_padding=settings.padding == "dynamic",
        )

    def _demo_examples(self, settings):
        train = data.demo_sentiment(settings.train_examples, seed=settings.seed)
        evaluation = data.demo_sentiment(settings.eval_examples, seed=settings.seed + 1)
        return Examples(*train, "DEMO sentiment"), Examples(*evaluation, "DEMO sentiment")

    def _records(self, path):
        settings = self.settings
        pair_column = settings.text_pair_column
        return data.iter_classification(
            path,
            text_column=_column(settings.text_column),
            label_column=_column(settings.label_column),
            text_pair_column=None if pair_column is None else _column(pair_column),
        )

    def _reading_hint(self):
        settings = self.settings
        pair = settings.text_pair_column
        return (
            f" (read with --text_column={settings.text_column}, "
            f"--label_column={settings.label_column}"
            + ("" if pair is None else f", --text_pair_column={pair}")
            + ")"
        )

    def _examples(self, records, path):
        columns = [list(column) for column in zip(*records)]
        return Examples(columns[0], columns[-1], path, columns[1] if len(columns) == 3 else None)

    def _label_names(self):
        if self.settings.train_data is None:
            return list(data.SENTIMENT_LABELS)
        labels = sorted(set(self.train_examples.labels))
        if len(labels) < 2:
            raise SettingsError(
                f"--train_data={self.settings.train_data}: every example is labelled "
                f"{labels[0]!r}; a classifier needs two labels or more{self._reading_hint()}."
            )
        return labels

    def _flat_labels(self, examples):
        return examples.labels

    def _texts(self):
        return self.train_examples.inputs + (self.train_examples.pairs or [])

    def columns(self, examples):
        """`(texts, labels)` or `(texts, text_pairs, labels)`: string tensors, a row per example."""
        texts = [examples.inputs] + ([] if examples.pairs is None else [examples.pairs])
        return (*map(tf.constant, texts), tf.constant(examples.labels))

    def preprocess(self, *columns):
        """A batch of `columns` rows as `(features, label_ids)`."""
        *texts, labels = columns
        return self.preprocessor(*texts), self.label_encoder(labels)

    def build_model(self):
        return models.TextClassifier(
            self._encoder(),
            labels=self.labels,
            dropout=self.settings.dropout,
            pooling=self.settings.pooling,
            tfidf=self._fit_tfidf() if self.settings.tfidf_average else None,
        )

    def _fit_tfidf(self):
        """`--tfidf_average`'s TF-IDF + logistic regression, fitted on the training examples."""
        examples = self.train_examples
        start = time.perf_counter()
        fitted = models.fit_tfidf_logits(
            self.preprocessor, examples.inputs,
            self.label_encoder(tf.constant(examples.labels)).numpy(), len(self.labels),
            text_pairs=examples.pairs,
        )
        print(f"TF-IDF + logistic regression over n-grams of 1 to {fitted.max_n} words: "
              f"{len(fitted.ngrams)} features, training accuracy "
              f"{fitted.train_accuracy:.4f}, fitted in {time.perf_counter() - start:.0f} s; "
              f"the classifier averages its probabilities with it at inference.", flush=True)
        return fitted.layer()

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name=self.metric_name)]

    def pretrain(self, encoder):
        """`--pretrain_steps` of masked-LM training of `encoder` on the training texts."""
        steps = self.settings.pretrain_steps
        texts = self._texts()
        print(f"Pretraining the encoder as a masked language model: {steps} steps on the "
              f"{len(texts)} training texts.", flush=True)
        model = models.pretrain_masked_lm(
            encoder, texts, self.preprocessor, self.vocabulary, steps, seed=self.settings.seed,
            verbose=2,
        )
        print(f"Masked-token accuracy after pretraining: {model.history.history['accuracy'][-1]:.4f}.",
              flush=True)


class NerTask(EncoderTask):
    """Named-entity recognition with `models.TokenClassifier`, scored by entity F1.

    Files are CoNLL, read with `keras_simpletf.data.iter_conll` (tags become
    IOB2); the tags are `"O"` then the training file's others, sorted (with
    `--teacher`, the teacher's). DEMO data is `data.demo_ner`. Our backbone
    keeps case unless `--lowercase`.

    During training `metrics.EntityF1` (`progress_entity_f1`) follows the
    entities within `--sequence_length`; `final_results` scores every gold
    entity, word by word, the words past the cut predicted `"O"`.
    """

    name = "ner"
    metric_name = "entity_f1"
    metric_label = "NER entity F1"
    progress_metric_name = "progress_entity_f1"
    unit = "sentences"
    lowercase = False

    def __init__(self, settings):
        super().__init__(settings)
        self.preprocessor = text.TokenClassificationPreprocessor(
            self.vocabulary,
            sequence_length=settings.sequence_length,
            lowercase=self.backbone.lowercase,
            dynamic_padding=settings.padding == "dynamic",
        )

    def _demo_examples(self, settings):
        train = data.demo_ner(settings.train_examples, seed=settings.seed)
        evaluation = data.demo_ner(settings.eval_examples, seed=settings.seed + 1)
        return Examples(*train, "DEMO"), Examples(*evaluation, "DEMO")

    def _records(self, path):
        return data.iter_conll(path)

    def _examples(self, records, path):
        words, tags = zip(*records)
        return Examples(list(words), list(tags), path)

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
        return [metrics.EntityF1(self.labels, name=self.progress_metric_name)]

    def final_results(self, model, results):
        """`results` with entity scores over every word of every evaluation sentence.

        Adds `entity_f1`, `entity_precision`, `entity_recall` and
        `entity_f1_<TYPE>` (seqeval's, via `metrics.entity_report`), the
        number of gold `entities`, and the `truncated_sentences` and
        `truncated_entities` that run past `--sequence_length`, whose words
        beyond it `TokenClassifier.predict_word_tags` tags `"O"`.
        """
        sentences, gold = self.eval_examples.inputs, self.eval_examples.labels
        predicted = model.predict_word_tags(
            sentences, self.preprocessor, batch_size=self.settings.batch_size
        )
        scores = metrics.entity_report(gold, predicted).as_dict()
        kept = self._words_within_cut(sentences)
        truncated_entities = sum(
            last >= words
            for tags, words in zip(gold, kept)
            for _, _, last in metrics.extract_entities(tags)
        )
        overall = scores.pop("micro avg")
        for average in ("macro avg", "weighted avg"):
            scores.pop(average)
        return {
            **results,
            "entity_f1": overall["f1-score"],
            "entity_precision": overall["precision"],
            "entity_recall": overall["recall"],
            **{f"entity_f1_{name}": row["f1-score"] for name, row in scores.items()},
            "entities": overall["support"],
            "truncated_sentences": sum(
                words < len(sentence) for words, sentence in zip(kept, sentences)
            ),
            "truncated_entities": truncated_entities,
        }

    def _words_within_cut(self, sentences):
        """How many words of each sentence have their first piece within the sequence length."""
        word_index = self.preprocessor(sentences)["word_index"]
        return np.sum(keras.ops.convert_to_numpy(word_index) >= 0, axis=1).tolist()

    def report(self, results):
        """Entity F1 over all gold entities, what was truncated, and the progress metric."""
        length = f"--sequence_length={self.settings.sequence_length}"
        types = ", ".join(
            f"{name.removeprefix('entity_f1_')} {value:.2f}"
            for name, value in results.items()
            if name.startswith("entity_f1_")
        )
        return (
            f"{super().report(results)} (all {results['entities']} gold entities, words past "
            f"{length} predicted O; precision {results['entity_precision']:.4f}, recall "
            f"{results['entity_recall']:.4f}; {types})\n"
            f"Past {length}: {results['truncated_sentences']} of {len(self.eval_examples)} "
            f"sentences, {results['truncated_entities']} of {results['entities']} gold "
            f"entities. Progress metric in training, entities within {length} only: "
            f"{results[self.progress_metric_name]:.4f}"
        )


def _column(flag_value):
    """A column flag's value: an int index if it is an integer, else a name."""
    return int(flag_value) if re.fullmatch(r"-?[0-9]+", flag_value) else flag_value


TASKS = {
    task.name: task
    for task in (
        ClassificationTask, NerTask, TranslationTask, SummarizationTask, QuestionAnsweringTask
    )
}


def create_task(settings):
    """The task `settings.task` names, with its examples read and vocabulary learned.

    Raises:
        SettingsError: a data file is missing, malformed or empty, a
            classification training file has one label, the evaluation file
            has labels the training file does not (with `--teacher`, a data
            file has labels the teacher does not), or the pretrained
            backbone cannot be found or read.
    """
    return TASKS[settings.task](settings)
