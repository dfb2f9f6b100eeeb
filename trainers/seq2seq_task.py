"""The job's sequence-to-sequence tasks: translation and summarization with `Seq2SeqTransformer`.

Pairs come from `--train_data` and `--eval_data` (`train.en,train.de`
line-aligned, or one TSV/JSONL file, read by `data.iter_parallel`) or from
DEMO data. One SentencePiece model (BPE, byte fallback), learned from the
training pairs, tokenizes both sides; the model is `Seq2SeqTransformer` with
the block flags and the published recipe (label smoothing 0.1, Adam with
beta_2 0.98 and inverse-square-root decay). With `--backbone=minilm` (or a
local BERT preset directory) the encoder is that pretrained BERT, reading the
sources with its own WordPiece vocabulary and casing, under our decoder as
wide as it, randomly initialised and shaped by the block flags; the
SentencePiece model is then learned from the training targets alone. After
training, the evaluation sources are decoded with beam search (width 4, length
penalty 0.6) and scored as papers score them: BLEU and chrF (sacreBLEU) for
translation, ROUGE-1/2/L (rouge-score, stemmed) for summarization. Rows are
padded to fixed lengths: `--sequence_length` for sources,
`--target_sequence_length` for targets; training pairs longer than that are
left out (the job says how many), evaluation pairs are cut to fit.
"""

import dataclasses
import os

import sentencepiece
import tensorflow as tf

from keras_simpletf import data, metrics, models, text
from serving import export as serving_export
from trainers.backbones import JobBackbone, block_options
from trainers.config import SettingsError
from trainers.export import MODEL_FILE, write_vocabulary

SENTENCEPIECE_FILE = "sentencepiece.model"
# Evaluation sources decoded at a time after training.
_DECODE_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Text pairs held in memory.

    Attributes:
        sources: list of str.
        targets: list of str.
        source: where they come from: the files, or the DEMO data's name.
    """

    sources: list
    targets: list
    source: str

    def __len__(self):
        return len(self.sources)


class _Seq2SeqTask:
    """What translation and summarization share; a subclass names its DEMO data and its scores."""

    name = None
    unit = "pairs"
    teacher = None

    def __init__(self, settings):
        if settings.teacher:
            raise SettingsError(f"--teacher does not apply to --task={self.name}.")
        self.settings = settings
        # SentencePiece does not lower-case: --lowercase concerns a pretrained encoder only.
        self.backbone = JobBackbone(settings, default_lowercase=False)
        self.pretrained = self.backbone.preset is not None
        self.train_examples, self.eval_examples = self._read_pairs(settings)
        pairs = self.train_examples
        try:
            proto = text.learn_sentencepiece(
                pairs.targets if self.pretrained else pairs.sources + pairs.targets,
                settings.vocabulary_size,
                # BPE: on a small corpus the unigram learner stops at a few
                # dozen pieces, most of them single characters.
                model_type="bpe",
                allow_smaller=True,
            )
        except ValueError as error:
            raise SettingsError(f"--vocabulary_size={settings.vocabulary_size}: {error}") from None
        self.tokenizer = text.SentencePieceTokenizer(proto)
        if self.pretrained:
            self.vocabulary = self.backbone.vocabulary(texts=None)
            source_preprocessor = text.ClassificationPreprocessor(
                self.vocabulary, settings.sequence_length, lowercase=self.backbone.lowercase
            )
            self.preprocessor = text.Seq2SeqPreprocessor(
                source_preprocessor,
                self.tokenizer,
                target_sequence_length=settings.target_sequence_length,
            )
        else:
            self.preprocessor = text.Seq2SeqPreprocessor(
                self.tokenizer,
                sequence_length=settings.sequence_length,
                target_sequence_length=settings.target_sequence_length,
            )
        self.train_examples, self.length_report = self._fitting(self.train_examples, proto)

    def _fitting(self, pairs, proto):
        """The training pairs whose pieces fit the sequence lengths, and a line on those dropped.

        Cut pairs would teach the model to stop early, or to translate what
        it did not read; evaluation pairs are all kept (and cut). A source
        has room for its pieces and an end token, or a BERT's `[CLS]` and
        `[SEP]`.
        """
        processor = sentencepiece.SentencePieceProcessor(model_proto=proto)

        def pieces(text):
            return len(processor.encode(text))

        source_length, units = pieces, "lengths in SentencePiece pieces"
        source_room = self.settings.sequence_length - 1
        if self.pretrained:
            wordpiece = self.preprocessor.source_tokenizer.tokenizer

            def word_pieces(text):
                return int(tf.size(wordpiece.tokenize([text]).flat_values))

            source_length = word_pieces
            units = "sources in WordPiece tokens, targets in SentencePiece pieces"
            source_room -= 1
        length_filter = data.LengthFilter(
            source_room,
            self.settings.target_sequence_length - 1,
            length=source_length,
            target_length=pieces,
        )
        kept = list(length_filter(zip(pairs.sources, pairs.targets)))
        if not kept:
            raise SettingsError(
                f"No training pair fits --sequence_length={self.settings.sequence_length} and "
                f"--target_sequence_length={self.settings.target_sequence_length}: "
                f"{length_filter.report()} ({units})."
            )
        sources, targets = zip(*kept)
        report = f"Training pairs: {length_filter.report()} ({units})."
        return Pairs(list(sources), list(targets), pairs.source), report

    def _read_pairs(self, settings):
        if settings.train_data is None:
            train = self._demo(settings.train_examples, settings.seed)
            return Pairs(*train, self.demo_name), Pairs(
                *self._demo(settings.eval_examples, settings.seed + 1), self.demo_name)
        evaluation = None
        if settings.eval_data:
            evaluation = self._read_file("eval_data", settings.eval_data)
        return self._read_file("train_data", settings.train_data), evaluation

    def _read_file(self, flag, value):
        paths = value.split(",")
        if len(paths) > 2:
            raise SettingsError(
                f"--{flag}={value}: expected one TSV/JSONL file or two line-aligned files "
                "(source,target)."
            )
        for path in paths:
            if not tf.io.gfile.exists(path):
                raise SettingsError(f"--{flag}={value}: no such file {path}.")
        fields = self.settings.pair_fields.split(",") if self.settings.pair_fields else None
        if len(paths) == 2 and fields:
            raise SettingsError(
                f"--pair_fields={self.settings.pair_fields} chooses the fields of a TSV/JSONL "
                f"file; --{flag}={value} is two line-aligned files."
            )
        try:
            pairs = list(data.iter_parallel(paths[0] if len(paths) == 1 else paths, fields))
        except ValueError as error:  # DataError, or arguments that cannot work.
            raise SettingsError(f"--{flag}={value}: {error}") from None
        if not pairs:
            raise SettingsError(f"--{flag}={value}: the data holds no pairs.")
        sources, targets = zip(*pairs)
        return Pairs(list(sources), list(targets), value)

    def describe(self):
        """One line on the vocabularies and the model's size, and one on the pairs kept."""
        settings = self.settings
        if self.pretrained:
            casing = "lower-cased" if self.backbone.lowercase else "cased"
            return (
                f"Encoder: the pretrained BERT in {self.backbone.preset}, reading sources with its "
                f"{len(self.vocabulary)} WordPiece tokens, {casing}; decoder: ours, "
                f"{settings.num_layers} layer(s) as wide as the encoder, randomly initialised, "
                f"over {self.tokenizer.vocabulary_size} SentencePiece pieces learned from the "
                f"training targets of {self.train_examples.source}.\n{self.length_report}"
            )
        return (
            f"Our {settings.num_layers}+{settings.num_layers}-layer encoder-decoder, width "
            f"{settings.hidden_dim}; {self.tokenizer.vocabulary_size} SentencePiece pieces "
            f"shared by source and target, learned from the training pairs of "
            f"{self.train_examples.source}.\n{self.length_report}"
        )

    def columns(self, pairs):
        """`(sources, targets)` string tensors."""
        return tf.constant(pairs.sources), tf.constant(pairs.targets)

    def preprocess(self, sources, targets):
        """A batch of `columns` rows as `(features, target_out_ids)`."""
        return self.preprocessor(sources, targets)

    def build_model(self):
        """`Seq2SeqTransformer`: ours from the flags, or the pretrained encoder under our decoder."""
        settings = self.settings
        options = dict(
            num_layers=settings.num_layers,
            dropout=settings.dropout,
            max_length=max(settings.sequence_length, settings.target_sequence_length),
            **block_options(settings),
        )
        if self.pretrained:
            return models.Seq2SeqTransformer(
                target_vocabulary_size=self.tokenizer.vocabulary_size,
                encoder=self.backbone.build(len(self.vocabulary)),
                **options,
            )
        return models.Seq2SeqTransformer(
            self.tokenizer.vocabulary_size, hidden_dim=settings.hidden_dim, **options
        )

    def metrics(self):
        return [models.TokenAccuracy()]

    def decode(self, model, sources):
        """Beam-search outputs (width 4, length penalty 0.6) of `sources` as text."""
        generate = tf.function(lambda source_ids: model.generate(
            source_ids, max_length=self.preprocessor.target_sequence_length)["token_ids"])
        outputs = []
        for start in range(0, len(sources), _DECODE_BATCH):
            source_ids = self.preprocessor.source_ids(sources[start:start + _DECODE_BATCH])
            decoded = self.preprocessor.detokenize(generate(source_ids))
            outputs += [output.decode("utf-8") for output in decoded.numpy()]
        return outputs

    def final_results(self, model, results):
        """`results` with the task's scores of beam-decoded evaluation outputs."""
        hypotheses = self.decode(model, self.eval_examples.sources)
        return {**results, **self.scores(hypotheses, self.eval_examples.targets)}

    def report(self, results):
        scores = ", ".join(f"{name} {results[name]:.2f}" for name in self.score_names)
        return (
            f"{self.eval_examples.source}, {len(self.eval_examples)} held-out {self.unit} "
            f"decoded with beam 4: {scores}; token accuracy (teacher forcing) "
            f"{results['token_accuracy']:.4f}"
        )

    def export(self, model, export_dir):
        """The next serving version, `model.keras` and `sentencepiece.model` under `export_dir`.

        With a pretrained encoder, also its `vocabulary.txt` (the sources' WordPiece tokens).
        """
        version_path = serving_export.export(model, self.preprocessor, export_dir)
        model_path = os.path.join(export_dir, MODEL_FILE)
        tokenizer_path = os.path.join(export_dir, SENTENCEPIECE_FILE)
        model.save(model_path)
        self.tokenizer.save(tokenizer_path)
        paths = (version_path, model_path, tokenizer_path)
        if self.pretrained:
            paths += (write_vocabulary(self.vocabulary, export_dir),)
        return paths


class TranslationTask(_Seq2SeqTask):
    """Translation: DEMO data is `data.demo_translation`; scored by BLEU and chrF."""

    name = "translation"
    demo_name = "DEMO translation"
    score_names = ("bleu", "chrf")

    def _demo(self, count, seed):
        return data.demo_translation(count, seed=seed)

    def scores(self, hypotheses, references):
        return {
            "bleu": metrics.corpus_bleu(hypotheses, references),
            "chrf": metrics.corpus_chrf(hypotheses, references),
        }


class SummarizationTask(_Seq2SeqTask):
    """Summarization: DEMO data is `data.demo_summarization`; scored by ROUGE-1/2/L."""

    name = "summarization"
    demo_name = "DEMO summarization"
    score_names = metrics.ROUGE_TYPES

    def _demo(self, count, seed):
        return data.demo_summarization(count, seed=seed)

    def scores(self, hypotheses, references):
        return metrics.rouge(hypotheses, references)
