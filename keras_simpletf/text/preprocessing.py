"""Preprocessors: raw strings or words in, fixed-length BERT-style inputs out, in the graph.

Both preprocessors return the inputs keras-hub's BERT backbones take, which
keras_simpletf's task models take too:

- `token_ids`: int32 `(batch, sequence_length)`, `[CLS] ... [SEP]` then `[PAD]` (id 0);
- `segment_ids`: int32, 0 for the first text and 1 for the second of a pair;
- `padding_mask`: bool, `True` on real tokens.

The same object runs in `tf.data.Dataset.map` during training and inside an
exported SavedModel, so serving tokenizes exactly as training did. Texts longer
than `sequence_length` are truncated, never an error; empty and whitespace-only
texts give `[CLS] [SEP]`. Bytes that are not valid UTF-8 inside a string tensor
become `[UNK]` (the tokenizer's policy); the data readers decide earlier, per
file, whether undecodable input is an error or replaced.

With `dynamic_padding=True` a batch is padded only to its longest row (at most
`sequence_length`), which `model.fit` accepts since the inputs' length is
`None`; keep the default fixed length for TPUs and XLA, which want static shapes.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_simpletf.text.wordpiece import read_vocabulary, wordpiece_tokenizer

# Words as CoNLL-2003 (Penn Treebank style) writes them: whitespace-separated,
# with punctuation at either end a word of its own, but abbreviations
# ("U.S.", "J.", "Mr.", "Calif."), hyphenated words and numbers ("Bosnian-Serb",
# "U.S.-led", "1996-08-22", "1,000.5", "+44", ".500", "anti-"), currencies
# ("US$") and names with an apostrophe ("O'Neill", "Gama'a", "don't") whole, and
# clitics ("'s", "'re") apart. Measured by joining each CoNLL sentence's words
# with spaces and splitting again, which must give the words back.
# RE2 has no look-around, so the text is split on one pattern that matches
# whitespace (dropped) or a word (kept); at each position its alternatives are
# tried in order (leftmost-first) and repetitions are greedy. tf_text
# searches from the end of the previous match, so `^` cannot see where a text
# starts: `_join_rankings` does that part. English-only parts stay ASCII and the
# word's tail appears once, which keeps RE2's automaton small enough to run as a DFA.

# Abbreviations that CoNLL keeps whole before a space. Not "Gov.", "Sen.", "Co.",
# "Jr.", "Sept." nor most states' ("Va."): train and dev always write "Gov", ".".
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Dr|Prof|Lt|St|Mt|Ft|ST|MT|FT|Rev|Inc|Corp|Ltd|vs|vol|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Calif|Fla"
)
_LETTER_OR_DIGIT = r"[\p{L}\p{M}\p{N}]"
# Letters after an apostrophe inside a word ("O'Neill", "She'an", "Gama'a"):
# any but a clitic ('s 'm 'd 're 've 'll, and n't's 't) or, as nothing may look
# ahead, the start of one: "they'r" + "e" cannot be told from "She'an".
_APOSTROPHE_TAIL = "|".join(
    [
        rf"[A-Za-z]{_LETTER_OR_DIGIT}{_LETTER_OR_DIGIT}+",  # O'Neill, d'affaires, d'oïl
        rf"[A-KM-QS-UW-Za-km-qs-uw-z]{_LETTER_OR_DIGIT}",  # She'an, Mar'ie: not l, r, v first
        r"[rRvV][A-DF-Za-df-z]|[lL][A-KM-Za-km-z]",  # two letters, not 're 've 'll
        r"[A-CE-KN-QUW-Za-ce-kn-quw-z]",  # Gama'a, Guivarc'h, NIDA'A: not d l m r s t v
    ]
)
# What starts a word that continues like any other (`_WORD_TAIL`).
_WORD_START = "|".join(
    [
        r"[A-Z]\.(?:[A-Za-z]\.)*",  # U.S., J.; U.S.-led, A.de, and "U.S" as in CoNLL's "U.S ."
        r"[a-z]\.(?:[A-Za-z]\.)+",  # a.m., e.g.
        rf"(?:{_ABBREVIATIONS})\.",  # Mr., Calif., Sep.96
        r"[+-]?\.?[0-9]",  # 1996, +44, .500
        rf"\.{{3}}{_LETTER_OR_DIGIT}",  # ...and (CoNLL keeps a leading ellipsis on)
        _LETTER_OR_DIGIT,
    ]
)
_WORD_TAIL = "|".join(
    [
        r"-(?:[A-Z]\.){2,}",  # aid-U.N., anti-U.S.
        # Bosnian-Serb, rebels--poll, Ill.-based, 1,000.5, AT&T, 100=1992, Tel+44
        rf"(?:-+|\.-|[./:,&@_=+]){_LETTER_OR_DIGIT}+",
        rf"['’](?:{_APOSTROPHE_TAIL})",  # O'Neill, She'an
        r"['’]t\b",  # don't
    ]
)
_WORD_PATTERN = "|".join(
    [
        r"[A-Z]{1,3}\$",  # US$, C$
        r"['’](?:[sSmMdD]|[rR][eE]|[vV][eE]|[lL][lL])\b",  # clitics
        # A word, then a suspended hyphen ("anti- and pro-"), "--" or a rating's + or -.
        rf"(?:{_WORD_START}){_LETTER_OR_DIGIT}*(?:{_WORD_TAIL})*(?:-+|\+)?",
        r"-{2,}|\.{2,}|\*{2,}",  # --, ...
        r"[^\s\p{Z}]",  # any other character: a word of its own
    ]
)
_WHITESPACE_PATTERN = r"[\s\p{Z}]+"
# A text with what `_join_rankings` may join: one or two digits and "." or "=" starting it or a line.
_RANKING_TEXT = r"(?s)(?:.*[\n\r])?[\s\p{Z}]*[0-9]{1,2}[.=].*"


def split_words(texts):
    """Splits raw strings into words as CoNLL-2003 writes them, with byte offsets.

    Whitespace separates words, and punctuation at either end of one is a
    word of its own, as in the Penn Treebank tokenization of CoNLL files.
    Kept whole: abbreviations (`U.S.`, `J.`, `a.m.`, `Mr.`, `Inc.`, `Oct.`,
    `Calif.`), words joined by `-./:,&@_=+` (`Bosnian-Serb`, `U.S.-led`,
    `1996-08-22`, `1,000.5`, `AT&T`) or by a run of `-` (`rebels--poll`),
    a hyphen or rating sign ending a word (`anti-`, `AA+`), signed numbers
    (`+44`, `.500`), currencies (`US$`) and apostrophes inside words
    (`O'Neill`, `Gama'a`, `don't`); clitics (`'s`, `'re`, `'ll`) are split
    off, and a run of `-`, `.` or `*` is one word. A number of one or two
    digits and the `.` or `=` right after it that start a text or a line,
    before another word, are one word: CoNLL's rankings (`1. Jan Ullrich`),
    while `won in 1996.` still ends in `1996`, `.`.

    Args:
        texts: string `(batch,)` tensor or list of strings.

    Returns:
        `(words, starts, ends)`: ragged `(batch, None)` tensors; `starts` and
        `ends` are UTF-8 byte offsets into each text.

    Example:

    ```python
    words, starts, ends = split_words(["Bosnian-Serb troops left the U.S., he said."])
    assert words.to_list() == [[b"Bosnian-Serb", b"troops", b"left", b"the", b"U.S.",
                                b",", b"he", b"said", b"."]]
    ```
    """
    texts = tf.convert_to_tensor(texts)
    words, starts, ends = tf_text.regex_split_with_offsets(
        texts, f"{_WHITESPACE_PATTERN}|{_WORD_PATTERN}", _WORD_PATTERN
    )
    flat_texts = tf.reshape(texts, [-1])
    # Most texts hold no ranking: a match over the texts is cheaper than the joining.
    return tf.cond(
        tf.reduce_any(tf.strings.regex_full_match(flat_texts, _RANKING_TEXT)),
        lambda: _join_rankings(flat_texts, words, starts, ends),
        lambda: (words, starts, ends),
    )


def _join_rankings(texts, words, starts, ends):
    """Joins `1` `.` (or `6` `=`) into one word at the start of a text or a line.

    The pattern cannot tell "1. Jan Ullrich", a ranking that CoNLL keeps as
    `1.`, from "aged 25. He", which CoNLL ends with `25`, `.`: only where the
    text or line starts, which tf_text's search hides from `^`. The number
    must have one or two digits, the sign follow it at once, and whitespace
    and a word follow the sign. `texts` are flat, one per innermost row.
    """
    inner = words
    while isinstance(inner.values, tf.RaggedTensor):
        inner = inner.values
    word, begin, end = inner.values, starts.flat_values, ends.flat_values
    row = inner.value_rowids()
    count = tf.size(word)

    def later(values, steps, fill):
        """`values[i + steps]`, or `fill` past the end."""
        return tf.concat([values[steps:], tf.fill([steps], tf.cast(fill, values.dtype))], 0)[:count]

    def earlier(values, fill):
        """`values[i - 1]`, or `fill` before the start."""
        return tf.concat([tf.fill([1], tf.cast(fill, values.dtype)), values[:-1]], 0)[:count]

    sign = later(word, 1, "")
    # Cheap tests on every word first; texts are read only around the few candidates.
    candidate = tf.where(
        ((sign == ".") | (sign == "="))
        & tf.equal(later(begin, 1, -1), end)
        & tf.equal(later(row, 2, -1), row)
        & tf.greater(later(begin, 2, -1), later(end, 1, -1))
    )[:, 0]
    first_of_row = tf.gather(tf.not_equal(row, earlier(row, -1)), candidate)
    previous_end = tf.gather(earlier(end, 0), candidate)
    previous_end = tf.where(first_of_row, tf.zeros_like(previous_end), previous_end)
    space_before = tf.strings.substr(
        tf.gather(texts, tf.gather(row, candidate)),
        previous_end,
        tf.gather(begin, candidate) - previous_end,
    )
    ranking = tf.scatter_nd(
        candidate[:, None],
        tf.cast(
            tf.strings.regex_full_match(tf.gather(word, candidate), "[0-9]{1,2}")
            & (first_of_row | tf.strings.regex_full_match(space_before, r"(?s).*[\n\r].*")),
            tf.int32,
        ),
        tf.shape(word, tf.int64),
    ) > 0
    kept = tf.logical_not(earlier(ranking, False))
    row_ids = tf.boolean_mask(row, kept)

    def rebuilt(tensor, values):
        """`tensor` with its innermost rows made of the kept `values`."""
        if isinstance(tensor.values, tf.RaggedTensor):
            return tensor.with_values(rebuilt(tensor.values, values))
        return tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(values, kept), row_ids, nrows=tensor.nrows(), validate=False
        )

    return (
        rebuilt(words, tf.where(ranking, tf.strings.join([word, sign]), word)),
        rebuilt(starts, begin),
        rebuilt(ends, tf.where(ranking, later(end, 1, -1), end)),
    )


def pack_segments(segments, sequence_length, start_value, end_value, pad_value, round_robin=True):
    """`[start] a [end] (b [end]) [pad]...` rows of one or two ragged segments, truncated to fit.

    What keras-hub's `MultiSegmentPacker` returns for one or two segments
    (`truncate="round_robin"` or `"waterfall"`), built from dense gathers
    instead of ragged concatenation: a sixth of the graph ops, which every
    `tf.data` map and every exported signature traces, and every served
    request runs.

    Args:
        segments: one or two ragged `(batch, None)` tensors of one dtype.
        sequence_length: int, the length of every row.
        start_value, end_value, pad_value: the special values.
        round_robin: bool, trim two segments one item at a time from each
            in turn (BERT pairs); else trim the second first (waterfall).

    Returns:
        `(values, segment_ids)`: `(batch, sequence_length)` tensors, the
        values of the segments' dtype, the segment ids int32 (each end value
        belongs to the segment it closes).
    """
    dtype = segments[0].dtype
    lengths = [tf.cast(segment.row_lengths(), tf.int32) for segment in segments]
    room = sequence_length - 1 - len(segments)
    if len(segments) == 1:
        kept = [tf.minimum(lengths[0], room)]
    elif round_robin:
        first, second = lengths
        kept = [
            tf.minimum(first, tf.maximum((room + 1) // 2, room - second)),
            tf.minimum(second, tf.maximum(room // 2, room - first)),
        ]
    else:
        first = tf.minimum(lengths[0], room)
        kept = [first, tf.minimum(lengths[1], room - first)]
    position = tf.range(sequence_length)[None, :]
    values = tf.where(
        position == 0,
        tf.constant(start_value, dtype),
        tf.fill([tf.shape(kept[0])[0], sequence_length], tf.constant(pad_value, dtype)),
    )
    segment_ids = tf.zeros_like(values, tf.int32)
    begin = tf.ones_like(kept[0])[:, None]
    for index, (segment, length) in enumerate(zip(segments, kept)):
        end = begin + length[:, None]
        body = segment.to_tensor(pad_value, shape=[None, sequence_length])
        inside = (position >= begin) & (position < end)
        values = tf.where(
            inside,
            tf.gather(body, tf.maximum(position - begin, 0), batch_dims=1),
            tf.where(position == end, tf.constant(end_value, dtype), values),
        )
        segment_ids = tf.where(inside | (position == end), index, segment_ids)
        begin = end + 1
    return values, segment_ids


def _as_tensor(value):
    """Python strings, words or ids (nested lists) as a (ragged) tensor.

    Keras layers take tensors only; notebooks pass Python lists. Lists whose
    first value is not a number (strings, or nothing at all) become strings.
    """
    if not isinstance(value, (str, list, tuple)):
        return value
    leaf = value
    while isinstance(leaf, (list, tuple)) and leaf:
        leaf = leaf[0]
    dtype = tf.int32 if isinstance(leaf, int) else tf.string
    if any(isinstance(item, (list, tuple)) for item in value):
        return tf.ragged.constant(value, dtype=dtype)
    return tf.constant(value, dtype=dtype)


class _WordPiecePreprocessor(keras.layers.Layer):
    """Vocabulary, tokenizer, special-token ids and config shared by both preprocessors."""

    def __init__(
        self, vocabulary, sequence_length=128, lowercase=True, dynamic_padding=False, **kwargs
    ):
        super().__init__(**kwargs)
        if sequence_length < 3:
            raise ValueError(
                f"`sequence_length` must be at least 3 ([CLS] x [SEP]), got {sequence_length}."
            )
        self.vocabulary = read_vocabulary(vocabulary)
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.dynamic_padding = dynamic_padding
        self.tokenizer = wordpiece_tokenizer(self.vocabulary, lowercase)
        token_ids = {token: index for index, token in enumerate(self.vocabulary)}
        self.cls_id, self.sep_id = token_ids["[CLS]"], token_ids["[SEP]"]
        self.pad_id, self.unk_id = token_ids["[PAD]"], token_ids["[UNK]"]

    def __call__(self, *args, **kwargs):
        return super().__call__(*map(_as_tensor, args), **kwargs)

    def _finish(self, unbatched, outputs, padding_mask):
        """Trims a batch to its longest row (dynamic padding), or drops the
        batch dimension added to an unbatched input; `outputs` may be nested."""
        if unbatched:
            return tf.nest.map_structure(lambda tensor: tensor[0], outputs)
        if not self.dynamic_padding:
            return outputs
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1))
        return tf.nest.map_structure(lambda tensor: tensor[:, :longest], outputs)

    def _features(self, token_ids, segment_ids):
        return {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": tf.not_equal(token_ids, self.pad_id),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary,
            sequence_length=self.sequence_length,
            lowercase=self.lowercase,
            dynamic_padding=self.dynamic_padding,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_simpletf")
class ClassificationPreprocessor(_WordPiecePreprocessor):
    """Texts (or text pairs) to `[CLS] a [SEP] (b [SEP])` token ids, in the graph.

    Pairs are truncated round-robin, one piece at a time from the longer
    remaining text, like BERT's pair classification. Python strings and
    lists of them are accepted as well as string tensors.

    Args:
        vocabulary: a list of tokens, or the path of a BERT `vocab.txt`; must
            hold `"[PAD]"` (ideally id 0), `"[UNK]"`, `"[CLS]"` and `"[SEP]"`.
        sequence_length: int, the length of every output row.
        lowercase: bool, lower-case and strip accents (uncased BERT).
        dynamic_padding: bool, pad each batch only to its longest row.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        texts: string `(batch,)`, or one string `()` (outputs then have no
            batch dimension, for `map` before `batch`).
        text_pairs: string second texts of the same shape, or `None`.

    Example:

    ```python
    texts = ["a great film.", "a dull plot."] * 10
    vocabulary = learn_vocabulary(texts, vocabulary_size=35)
    preprocessor = ClassificationPreprocessor(vocabulary, sequence_length=32)
    features = preprocessor(["a great film."])   # features["token_ids"]: int32 (1, 32)
    ```
    """

    def call(self, texts, text_pairs=None):
        unbatched = texts.shape.rank == 0
        segments = [texts] if text_pairs is None else [texts, text_pairs]
        if unbatched:
            segments = [tf.expand_dims(segment, 0) for segment in segments]
        token_ids, segment_ids = pack_segments(
            [self.tokenizer.tokenize(segment) for segment in segments],
            self.sequence_length, self.cls_id, self.sep_id, self.pad_id,
        )
        features = self._features(tf.cast(token_ids, tf.int32), segment_ids)
        return self._finish(unbatched, features, features["padding_mask"])


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TokenClassificationPreprocessor(_WordPiecePreprocessor):
    """Words (and word tags) to word-piece inputs with tags on each word's first piece.

    Each word is WordPiece-tokenized on its own (a word that yields no piece
    becomes `"[UNK]"`, so no word loses its tag); pieces are packed as
    `[CLS] pieces [SEP] [PAD]...`. `tag_ids` carry each word's tag on the
    word's first piece and `-1` everywhere else (later pieces, special tokens,
    padding), the value `keras_simpletf` losses and metrics ignore. `word_index`
    gives, for each first piece, the index of its word in the sentence (`-1`
    elsewhere), to map piece predictions back to words; words cut off by
    truncation have no first piece and get no prediction.

    Args:
        vocabulary: a list of tokens, or the path of a BERT `vocab.txt`.
        sequence_length: int, the length of every output row.
        lowercase: bool, lower-case and strip accents (uncased BERT).
        dynamic_padding: bool, pad each batch only to its longest row.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        words: string `(batch, None)` ragged (or dense: then every entry is a
            word) words, or one sentence's words `(None,)`.
        tag_ids: int tag ids of the words, of the same shape, or `None`.

    Returns:
        `(features, piece_tag_ids)` when `tag_ids` are given, else the
        features with `"word_index"`.

    Example:

    ```python
    vocabulary = learn_vocabulary(["John lives in Berlin ."] * 5, vocabulary_size=33)
    preprocessor = TokenClassificationPreprocessor(vocabulary, sequence_length=16)
    features, tags = preprocessor([["John", "lives", "in", "Berlin"]], [[1, 0, 0, 2]])
    ```
    """

    def _word_pieces(self, flat_words):
        """`(words, None)` piece ids; a word with no piece gets `[UNK]`."""
        pieces = self.tokenizer.tokenize(flat_words)
        no_piece = tf.expand_dims(tf.equal(pieces.row_lengths(), 0), 1)
        unknown = tf.fill(tf.shape(no_piece), self.unk_id)
        return tf.concat([pieces, tf.ragged.boolean_mask(unknown, no_piece)], axis=1)

    def _first_pieces_or_minus_one(self, word_pieces, word_values):
        """Each word's value on its first piece, -1 on its other pieces.

        Every word has a piece (see `_word_pieces`), so a word's first piece
        is at its row start; flat updates keep this cheap in eager mode too.
        """
        values = tf.tensor_scatter_nd_update(
            tf.fill(tf.shape(word_pieces.flat_values), tf.constant(-1, word_pieces.dtype)),
            tf.expand_dims(word_pieces.row_starts(), 1),
            tf.cast(word_values, word_pieces.dtype),
        )
        return word_pieces.with_flat_values(values)

    def call(self, words, tag_ids=None):
        unbatched = words.shape.rank == 1
        if unbatched:
            words = tf.expand_dims(words, 0)
            tag_ids = None if tag_ids is None else tf.expand_dims(tag_ids, 0)
        if not isinstance(words, tf.RaggedTensor):
            words = tf.RaggedTensor.from_tensor(words)
        word_pieces = self._word_pieces(words.flat_values)

        def packed(per_piece, boundary, pad):
            sentences = tf.RaggedTensor.from_row_splits(per_piece, words.row_splits, validate=False)
            return pack_segments(
                [sentences.merge_dims(1, 2)], self.sequence_length, *boundary, pad
            )[0]

        token_ids = packed(word_pieces, (self.cls_id, self.sep_id), self.pad_id)
        features = self._features(token_ids, tf.zeros_like(token_ids))
        if tag_ids is None:
            word_positions = tf.ragged.range(words.row_lengths()).flat_values
            features["word_index"] = packed(
                self._first_pieces_or_minus_one(word_pieces, word_positions), (-1, -1), -1
            )
            return self._finish(unbatched, features, features["padding_mask"])
        if not isinstance(tag_ids, tf.RaggedTensor):
            tag_ids = tf.RaggedTensor.from_tensor(tag_ids)
        piece_tags = self._first_pieces_or_minus_one(word_pieces, tag_ids.flat_values)
        return self._finish(
            unbatched, (features, packed(piece_tags, (-1, -1), -1)), features["padding_mask"]
        )
