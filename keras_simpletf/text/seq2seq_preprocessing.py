"""Text pairs to the teacher-forcing tensors of `Seq2SeqTransformer`, in-graph, with SentencePiece."""

import tensorflow as tf

from keras_simpletf.text.sentencepiece import END_ID, PAD_ID, START_ID


class Seq2SeqPreprocessor(tf.Module):
    """Source and target texts to `({"source_ids", "target_in_ids"}, target_out_ids)`.

    Every row is padded with 0 to a fixed length. A source is its pieces
    then the end token; the decoder reads the start token then the target's
    pieces (`target_in_ids`) and learns to produce the pieces then the end
    token (`target_out_ids`). Pieces past the length are cut before the
    start and end tokens are added, so every row keeps them. One tokenizer serves both sides with
    a shared vocabulary; give `target_tokenizer` for a separate one.

    Args:
        source_tokenizer: a `SentencePieceTokenizer`.
        target_tokenizer: a `SentencePieceTokenizer`, or `None` for
            `source_tokenizer`.
        sequence_length: int, the source length, end token included.
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
    ```
    """

    dynamic_padding = False

    def __init__(
        self,
        source_tokenizer,
        target_tokenizer=None,
        sequence_length=128,
        target_sequence_length=None,
        name=None,
    ):
        super().__init__(name=name)
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
        """int32 `(batch, sequence_length)`: each source's pieces, the end token, padding."""
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


def _with(pieces, before=None, after=None):
    """Ragged `pieces` with `before` prepended to and `after` appended to every row."""
    rows = tf.shape(pieces.row_splits)[0] - 1
    parts = [pieces]
    if before is not None:
        parts.insert(0, tf.RaggedTensor.from_tensor(tf.fill([rows, 1], before)))
    if after is not None:
        parts.append(tf.RaggedTensor.from_tensor(tf.fill([rows, 1], after)))
    return tf.concat(parts, axis=1)
