"""Text pairs to the teacher-forcing tensors of `Seq2SeqTransformer`, in-graph, with SentencePiece (or a BERT's WordPiece for sources)."""

import tensorflow as tf

from keras_simpletf.text.preprocessing import ClassificationPreprocessor
from keras_simpletf.text.sentencepiece import END_ID, PAD_ID, START_ID

# The source length when neither the argument nor a source preprocessor gives one.
_DEFAULT_SEQUENCE_LENGTH = 128


class Seq2SeqPreprocessor(tf.Module):
    """Source and target texts to `({"source_ids", "target_in_ids"}, target_out_ids)`.

    Every row is padded with 0 to a fixed length. A source is its pieces
    then the end token; the decoder reads the start token then the target's
    pieces (`target_in_ids`) and learns to produce the pieces then the end
    token (`target_out_ids`). Pieces past the length are cut before the
    start and end tokens are added, so every row keeps them. One tokenizer serves both sides with
    a shared vocabulary; give `target_tokenizer` for a separate one.

    For a pretrained BERT encoder, the source side is the BERT's own
    `ClassificationPreprocessor` (its WordPiece vocabulary and casing, fixed
    padding): sources are then `[CLS] pieces [SEP]` padded with `[PAD]`
    (id 0), as the task models read text, and the targets take their own
    `target_tokenizer`.

    Args:
        source_tokenizer: a `SentencePieceTokenizer`, or a
            `ClassificationPreprocessor` whose `[PAD]` is id 0 (a BERT's).
        target_tokenizer: a `SentencePieceTokenizer`, or `None` for
            `source_tokenizer` (a `SentencePieceTokenizer` only).
        sequence_length: int, the source length, end token (or `[CLS]` and
            `[SEP]`) included. Defaults to a `ClassificationPreprocessor`'s
            own, which it must equal, or 128.
        target_sequence_length: int, the target length (start or end token
            included), or `None` for `sequence_length`.
        name: str, the module's name.

    Example:

    ```python
    pairs = demo_translation(100)
    tokenizer = SentencePieceTokenizer(learn_sentencepiece(
        pairs[0] + pairs[1], 300, model_type="bpe", allow_smaller=True))
    preprocessor = Seq2SeqPreprocessor(tokenizer, sequence_length=16)
    features, target_out_ids = preprocessor(["one two"], ["zwei eins"])
    features["source_ids"].shape   # (1, 16)

    bert_source = ClassificationPreprocessor(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "one", "two"],
                                             sequence_length=6)
    preprocessor = Seq2SeqPreprocessor(bert_source, tokenizer, target_sequence_length=16)
    preprocessor.source_ids(["one two"])   # [[2, 4, 5, 3, 0, 0]]
    ```
    """

    dynamic_padding = False

    def __init__(
        self,
        source_tokenizer,
        target_tokenizer=None,
        sequence_length=None,
        target_sequence_length=None,
        name=None,
    ):
        super().__init__(name=name)
        self.wordpiece_source = isinstance(source_tokenizer, ClassificationPreprocessor)
        if self.wordpiece_source:
            sequence_length = _checked_wordpiece_source(
                source_tokenizer, target_tokenizer, sequence_length
            )
        sequence_length = sequence_length or _DEFAULT_SEQUENCE_LENGTH
        if sequence_length < 2 or (target_sequence_length or 2) < 2:
            raise ValueError(
                "`sequence_length` and `target_sequence_length` must be at least 2, got "
                f"{sequence_length!r} and {target_sequence_length!r}."
            )
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer or source_tokenizer
        self.shared_vocabulary = target_tokenizer is None
        self.sequence_length = sequence_length
        self.target_sequence_length = target_sequence_length or sequence_length

    def source_ids(self, sources):
        """int32 `(batch, sequence_length)`: each source's pieces, the end token, padding.

        With a `ClassificationPreprocessor` source: `[CLS]`, pieces, `[SEP]`, padding.
        """
        if self.wordpiece_source:
            return self.source_tokenizer(sources)["token_ids"]
        pieces = self.source_tokenizer.tokenize(sources)[:, : self.sequence_length - 1]
        return self._padded(_with(pieces, after=END_ID), self.sequence_length)

    def __call__(self, sources, targets):
        """`(features, target_out_ids)` of `(batch,)` string tensors (or lists of str)."""
        length = self.target_sequence_length
        pieces = self.target_tokenizer.tokenize(targets)[:, : length - 1]
        features = {
            "source_ids": self.source_ids(sources),
            "target_in_ids": self._padded(_with(pieces, before=START_ID), length),
        }
        return features, self._padded(_with(pieces, after=END_ID), length)

    def detokenize(self, token_ids):
        """`(batch,)` target strings of decoded ids (see `SentencePieceTokenizer.detokenize`)."""
        return self.target_tokenizer.detokenize(token_ids)

    @staticmethod
    def _padded(ragged, length):
        dense = ragged.to_tensor(PAD_ID, shape=[None, length])
        return tf.ensure_shape(dense, [None, length])


def _checked_wordpiece_source(preprocessor, target_tokenizer, sequence_length):
    """The source length of a `ClassificationPreprocessor` source side, once it is checked to fit."""
    problems = []
    if target_tokenizer is None:
        problems.append("a `target_tokenizer` of its own (a `SentencePieceTokenizer`, which "
                        "has the start and end tokens and detokenizes)")
    if preprocessor.pad_id != PAD_ID:
        problems.append(f"`[PAD]` at id {PAD_ID}, the id the model masks (it is "
                        f"{preprocessor.pad_id})")
    if preprocessor.dynamic_padding:
        problems.append("`dynamic_padding=False`: rows of a fixed length")
    if sequence_length not in (None, preprocessor.sequence_length):
        problems.append(f"`sequence_length` equal to the preprocessor's "
                        f"{preprocessor.sequence_length} (got {sequence_length})")
    if problems:
        raise ValueError(
            "A `ClassificationPreprocessor` source needs " + "; ".join(problems) + "."
        )
    return preprocessor.sequence_length


def _with(pieces, before=None, after=None):
    """Ragged `pieces` with `before` prepended to and `after` appended to every row."""
    rows = tf.shape(pieces.row_splits)[0] - 1
    parts = [pieces]
    if before is not None:
        parts.insert(0, tf.RaggedTensor.from_tensor(tf.fill([rows, 1], before)))
    if after is not None:
        parts.append(tf.RaggedTensor.from_tensor(tf.fill([rows, 1], after)))
    return tf.concat(parts, axis=1)
