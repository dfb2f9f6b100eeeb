"""WordPiece vocabularies learned from a corpus, and BERT-compatible tokenizers."""

import functools
import math

import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

# BERT's special tokens; "[PAD]" first so that padding is token id 0, which is
# what keras_simpletf.layers' stacks mask.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# What marks a piece that continues a word ("##ory"), as BERT's tokenizers expect.
JOINER = "##"


def learn_vocabulary(
    texts,
    vocabulary_size,
    lowercase=True,
    batch_size=1024,
    lower_thresh=1,
    upper_thresh=None,
    num_iterations=4,
    max_input_tokens=None,
    max_token_length=50,
    max_unique_chars=1000,
    slack_ratio=0.05,
    allow_smaller=False,
):
    """Learns a WordPiece vocabulary of exactly `vocabulary_size` tokens from `texts`.

    Texts are split into words as BERT does (`wordpiece_tokenizer` splits
    them the same way), and tensorflow_text's WordPiece learner (the one
    behind `bert_vocab_from_dataset` and keras-hub's
    `compute_word_piece_vocabulary`) keeps the pieces seen at least a
    threshold number of times. The threshold is searched between
    `lower_thresh` and `upper_thresh` for the smallest vocabulary that holds
    `vocabulary_size` tokens, whose rarest pieces are then left out. The
    vocabulary is `SPECIAL_TOKENS` (`"[PAD]"` is id 0), every character of
    the corpus alone and as a `"##"` continuation (so no word becomes
    `"[UNK]"`), then pieces from the most frequent to the rarest.

    Args:
        texts: an iterable of strings or a `tf.data.Dataset` of strings.
        vocabulary_size: int, the number of tokens, `SPECIAL_TOKENS` included.
        lowercase: bool, lower-case and strip accents first (uncased BERT),
            as `wordpiece_tokenizer` does with the same flag.
        batch_size: int, how many texts the learner reads at once.
        lower_thresh: int, the fewest times a piece must occur to be learned.
        upper_thresh: int or `None`, where the threshold search starts (`None`:
            the count of the most frequent word).
        num_iterations: int, rounds of the learner for each threshold.
        max_input_tokens: int or `None`, learn from only this many of the
            most frequent words (`None`: all of them).
        max_token_length: int, words longer than this many characters are
            left out of learning (they are still split into learned pieces).
        max_unique_chars: int, the most distinct characters kept; words with
            rarer characters are left out of learning (and become `"[UNK]"`).
        slack_ratio: float, the search stops at a vocabulary at most this
            fraction larger than `vocabulary_size`, whose rarest pieces are
            then left out; 0 searches for the closest.
        allow_smaller: bool; `True` makes `vocabulary_size` a maximum: a
            corpus that yields fewer tokens gives all it yields (every piece
            seen at least `lower_thresh` times) instead of an error. For
            jobs whose default size must also suit a small corpus.

    Returns:
        A list of `vocabulary_size` distinct strings (with `allow_smaller`,
        at most that many).

    Raises:
        ValueError: `texts` hold no words, or the corpus yields fewer tokens
            than `vocabulary_size` (pieces of distinct words seen at least
            `lower_thresh` times) or needs more (its special tokens and
            characters); the message gives the size that can be learned.

    Example:

    ```python
    texts = ["a great story.", "a dull story, and a great cast."] * 20
    vocabulary = learn_vocabulary(texts, vocabulary_size=40)
    assert len(vocabulary) == 40 and vocabulary[0] == "[PAD]" and "story" in vocabulary
    ```
    """
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    words = texts.batch(batch_size).map(
        _word_splitter(lowercase), num_parallel_calls=tf.data.AUTOTUNE
    )
    try:
        word_counts = learner.count_words(words)
    except StopIteration:
        raise ValueError("`texts` hold no words to learn a vocabulary from.") from None
    params = learner.Params(
        upper_thresh=upper_thresh,
        lower_thresh=lower_thresh,
        num_iterations=num_iterations,
        max_input_tokens=-1 if max_input_tokens is None else max_input_tokens,
        max_token_length=max_token_length,
        max_unique_chars=max_unique_chars,
        vocab_size=vocabulary_size,
        slack_ratio=slack_ratio,
        include_joiner_token=True,
        joiner=JOINER,
        reserved_tokens=list(SPECIAL_TOKENS),
    )
    word_counts = list(word_counts.items())
    kept_words = learner.get_input_words(word_counts, params.reserved_tokens, max_token_length)
    kept_words = learner.filter_input_words(
        kept_words,
        learner.get_allowed_chars(kept_words, max_unique_chars),
        params.max_input_tokens,
    )
    characters = learner.extract_char_tokens(kept_words)
    required = {*SPECIAL_TOKENS, *characters, *(JOINER + c for c in characters)}
    if vocabulary_size < len(required):
        raise ValueError(
            f"`vocabulary_size` must be at least {len(required)} for this corpus: the "
            f"{len(SPECIAL_TOKENS)} special tokens and its {len(characters)} distinct "
            f"characters, alone and as '{JOINER}' continuations (`max_unique_chars` keeps "
            f"fewer characters), got {vocabulary_size}."
        )
    upper, lower = learner.get_search_threshs(word_counts, upper_thresh, lower_thresh)
    vocabulary, largest = _search_threshold(kept_words, lower, max(lower, upper), params)
    if vocabulary is None and allow_smaller:
        vocabulary = learner.learn_with_thresh(kept_words, lower, params)
        vocabulary_size = min(vocabulary_size, len(vocabulary))
    elif vocabulary is None:
        rarest = min(count for _, count in word_counts)
        raise ValueError(
            f"The corpus yields at most {largest} tokens, fewer than `vocabulary_size="
            f"{vocabulary_size}`: the special tokens, its {len(characters)} characters alone "
            f"and as '{JOINER}' continuations, and the pieces that occur at least {lower} times "
            f"in its {len(kept_words)} distinct words. Ask for at most {largest}, or "
            + ("lower `lower_thresh`." if lower_thresh > rarest else "learn from more text.")
        )
    return _without_rarest_pieces(vocabulary, vocabulary_size, required)


@functools.cache
def _word_splitter(lowercase):
    """BERT's split of a batch of texts into words, traced once per casing: a new
    `BasicTokenizer` in every `map` would be traced again at each call."""
    return tf.function(
        BasicTokenizer(lower_case=lowercase).tokenize,
        input_signature=[tf.TensorSpec([None], tf.string)],
    )


def _search_threshold(word_counts, lower, upper, params):
    """Searches the highest count threshold whose vocabulary holds at least
    `params.vocab_size` tokens, bisecting geometrically: the vocabulary size
    falls about as a power of the threshold (word counts follow Zipf's law).

    Returns:
        `(vocabulary, largest)`: the smallest vocabulary found that is large
        enough (`None` if none is), and the largest size seen.
    """
    best, largest = None, 0
    most_accepted = params.vocab_size * (1 + params.slack_ratio)
    while lower <= upper:
        threshold = math.isqrt(lower * upper)
        vocabulary = learner.learn_with_thresh(word_counts, threshold, params)
        largest = max(largest, len(vocabulary))
        if len(vocabulary) < params.vocab_size:
            upper = threshold - 1
            continue
        if best is None or len(vocabulary) < len(best):
            best = vocabulary
        if len(vocabulary) <= most_accepted:
            break
        lower = threshold + 1
    return best, largest


def _without_rarest_pieces(vocabulary, size, required):
    """The first `size` tokens of `vocabulary` (ordered from the most frequent
    piece to the rarest) that keep every `required` token."""
    spare = size - len(required)
    kept = []
    for token in vocabulary:
        if token in required:
            kept.append(token)
        elif spare > 0:
            kept.append(token)
            spare -= 1
    return kept


def read_vocabulary(vocabulary):
    """`vocabulary` as a list of tokens; a string is read as a `vocab.txt` path.

    Raises a `ValueError` naming the missing tokens if any of BERT's special
    tokens but `"[MASK]"` is absent.
    """
    if isinstance(vocabulary, str):
        with tf.io.gfile.GFile(vocabulary) as lines:
            vocabulary = [line.rstrip("\n") for line in lines]
    vocabulary = list(vocabulary)
    missing = [t for t in SPECIAL_TOKENS if t != "[MASK]" and t not in vocabulary]
    if missing:
        raise ValueError(f"The vocabulary lacks the special tokens {missing}.")
    return vocabulary


def wordpiece_tokenizer(vocabulary, lowercase=True):
    """BERT's tokenizer, in the graph: `tensorflow_text.FastBertTokenizer`.

    It splits on whitespace and punctuation, then into WordPiece pieces
    (`"##"` continuations, `"[UNK]"` for unknown words), and returns int32
    ids as a `tf.RaggedTensor` with one more dimension than its input, also
    when called eagerly. `lowercase=True` lower-cases and strips accents like
    uncased BERT; `False` keeps the text as it is (cased BERT).

    Args:
        vocabulary: a list of tokens.
        lowercase: bool.
    """
    return tf_text.FastBertTokenizer(
        vocab=list(vocabulary),
        token_out_type=tf.int32,
        unknown_token="[UNK]",
        suffix_indicator=JOINER,
        lower_case_nfd_strip_accents=lowercase,
    )
