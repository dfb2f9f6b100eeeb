"""WordPiece vocabularies learned from a corpus, and BERT-compatible tokenizers."""

import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

# BERT's special tokens; "[PAD]" first so that padding is token id 0, which is
# what keras_simpletf.layers' stacks mask.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def learn_vocabulary(texts, vocabulary_size, lowercase=True, batch_size=1024):
    """Learns a WordPiece vocabulary (a list of tokens) from `texts`.

    Args:
        texts: an iterable of strings or a `tf.data.Dataset` of strings.
        vocabulary_size: int, the most tokens the vocabulary may hold,
            `SPECIAL_TOKENS` included.
        lowercase: bool, lower-case and strip accents first (uncased BERT),
            as `wordpiece_tokenizer` does with the same flag.
        batch_size: int, how many texts the learner reads at once.
    """
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(list(texts))
    return keras_hub.tokenizers.compute_word_piece_vocabulary(
        texts.batch(batch_size),
        vocabulary_size=vocabulary_size,
        lowercase=lowercase,
        strip_accents=lowercase,
        reserved_tokens=list(SPECIAL_TOKENS),
    )


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
        lower_case_nfd_strip_accents=lowercase,
    )
