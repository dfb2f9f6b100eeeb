"""SentencePiece subwords: trained with the `sentencepiece` package, run in-graph by tensorflow-text.

The ids match what `keras_simpletf.models.Seq2SeqTransformer` expects: 0 is
padding, 1 starts a target, 2 ends a sequence, 3 is an unknown piece. With
byte fallback (the default) no text is unknown: a character the corpus never
showed is written as its UTF-8 bytes, so any text survives the round trip
text -> ids -> text, as SentencePiece normalises it (NFKC, runs of spaces
made one, no leading or trailing space).
"""

import io

import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

PAD_ID, START_ID, END_ID, UNKNOWN_ID = 0, 1, 2, 3
SPECIAL_PIECES = ("<pad>", "<s>", "</s>", "<unk>")
MODEL_TYPES = ("unigram", "bpe")


def learn_sentencepiece(
    texts,
    vocabulary_size,
    model_type="unigram",
    character_coverage=1.0,
    byte_fallback=True,
    normalization="nmt_nfkc",
    allow_smaller=False,
    max_sentence_length=16384,
):
    """Trains a SentencePiece model on `texts` with the `sentencepiece` package; returns its bytes.

    Args:
        texts: an iterable of str, read once.
        vocabulary_size: int, pieces in all: the 4 special ones, the 256 byte
            pieces with `byte_fallback`, and the learned ones.
        model_type: `"unigram"` (Kudo, 2018; the package's default) or `"bpe"`.
        character_coverage: float, the share of the corpus's characters given
            pieces of their own (1.0 for alphabets, 0.9995 for CJK corpora).
        byte_fallback: bool, write characters without a piece as their bytes,
            not as `<unk>` (id 3).
        normalization: the package's normalisation rule (`"nmt_nfkc"`,
            `"nfkc"`, `"identity"`, ...).
        allow_smaller: bool; `True` makes `vocabulary_size` a maximum, for
            small corpora that cannot fill it.
        max_sentence_length: int, bytes; longer texts are left out of training.

    Returns:
        bytes, the serialized model (`SentencePieceTokenizer(model_proto)`).

    Raises:
        ValueError: a `model_type` not in `MODEL_TYPES`, or `texts` that
            cannot give `vocabulary_size` pieces (the package's message).

    Example:

    ```python
    proto = learn_sentencepiece(["ein Haus", "zwei Häuser"] * 50, 300, allow_smaller=True)
    tokenizer = SentencePieceTokenizer(proto)
    ```

    References:
        - [Kudo & Richardson, 2018](https://arxiv.org/abs/1808.06226)
        - [Kudo, 2018](https://arxiv.org/abs/1804.10959) (unigram language model)
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"`model_type` must be one of {MODEL_TYPES}, got {model_type!r}.")
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=model,
            vocab_size=vocabulary_size,
            model_type=model_type,
            character_coverage=character_coverage,
            byte_fallback=byte_fallback,
            normalization_rule_name=normalization,
            hard_vocab_limit=not allow_smaller,
            max_sentence_length=max_sentence_length,
            pad_id=PAD_ID,
            bos_id=START_ID,
            eos_id=END_ID,
            unk_id=UNKNOWN_ID,
            pad_piece=SPECIAL_PIECES[PAD_ID],
            bos_piece=SPECIAL_PIECES[START_ID],
            eos_piece=SPECIAL_PIECES[END_ID],
            unk_piece=SPECIAL_PIECES[UNKNOWN_ID],
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise ValueError(f"SentencePiece training failed: {error}") from None
    return model.getvalue()


class SentencePieceTokenizer(tf.Module):
    """Text to SentencePiece ids and back, in-graph (tensorflow-text's `SentencepieceTokenizer`).

    A `tf.Module`: saved inside a SavedModel with the module that holds it,
    its model proto among the SavedModel's assets-free constants, so the
    exported graph needs tensorflow-text's ops only.

    Args:
        model_proto: bytes, a serialized SentencePiece model
            (`learn_sentencepiece`) whose ids 0-3 are `SPECIAL_PIECES`.
        name: str, the module's name.

    Example:

    ```python
    corpus = ["Grüße aus Köln", "Привет из Москвы", "来自东京的问候"] * 20
    tokenizer = SentencePieceTokenizer(learn_sentencepiece(corpus, 300, allow_smaller=True))
    ids = tokenizer.tokenize(["Grüße aus Köln"])         # ragged int32
    tokenizer.detokenize(ids).numpy()                    # [b'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln']
    ```

    References:
        - [Kudo & Richardson, 2018](https://arxiv.org/abs/1808.06226)
    """

    def __init__(self, model_proto, name=None):
        super().__init__(name=name)
        processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        pieces = tuple(processor.id_to_piece(index) for index in range(len(SPECIAL_PIECES)))
        if pieces != SPECIAL_PIECES:
            raise ValueError(
                f"The SentencePiece model's ids 0-3 must be {SPECIAL_PIECES} (as "
                f"`learn_sentencepiece` makes them), got {pieces}."
            )
        self.model_proto = model_proto
        self.vocabulary_size = processor.get_piece_size()
        self._tokenizer = tf_text.SentencepieceTokenizer(model=model_proto, out_type=tf.int32)

    @classmethod
    def from_file(cls, path):
        """The tokenizer of the model file `path` (any `tf.io.gfile` path)."""
        with tf.io.gfile.GFile(path, "rb") as file:
            return cls(file.read())

    def save(self, path):
        """Writes the model proto to `path`, the `.model` file `sentencepiece` reads too."""
        with tf.io.gfile.GFile(path, "wb") as file:
            file.write(self.model_proto)

    def tokenize(self, texts):
        """int32 ragged `(batch, None)` ids of a `(batch,)` string tensor (or list of str)."""
        return self._tokenizer.tokenize(tf.convert_to_tensor(texts, tf.string))

    def detokenize(self, token_ids):
        """`(batch,)` strings of ids, read up to the first end token; padding and start ids skipped.

        Args:
            token_ids: int `(batch, length)`, dense or ragged (a decoder's
                output, with the end token and padding after it).
        """
        if isinstance(token_ids, tf.RaggedTensor):
            token_ids = token_ids.to_tensor(PAD_ID)
        token_ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
        ended = tf.cumsum(tf.cast(tf.equal(token_ids, END_ID), tf.int32), axis=1) > 0
        kept = ~ended & tf.not_equal(token_ids, PAD_ID) & tf.not_equal(token_ids, START_ID)
        return self._tokenizer.detokenize(tf.ragged.boolean_mask(token_ids, kept))

    def id_to_piece(self, token_ids):
        """The pieces (strings) of int ids, any shape."""
        return self._tokenizer.id_to_string(token_ids)
