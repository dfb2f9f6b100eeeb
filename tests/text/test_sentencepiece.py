"""Tests for keras_simpletf/text/sentencepiece.py and seq2seq_preprocessing.py."""

import io

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from keras_simpletf.text import (
    END_ID,
    SPECIAL_PIECES,
    START_ID,
    ClassificationPreprocessor,
    Seq2SeqPreprocessor,
    SentencePieceTokenizer,
    learn_sentencepiece,
    learn_vocabulary,
)

CORPUS = [
    "Zwei Männer stehen vor einer großen Tür.",
    "Ein Mädchen läuft über die Straße.",
    "Двое мужчин стоят у большой двери.",
    "Девочка бежит через улицу.",
    "两个男人站在一扇大门前。",
    "一个女孩跑过街道。",
    "Two men stand in front of a big door.",
] * 20
# Texts the corpus holds and texts it does not: unseen characters (Japanese
# kana, Greek, emoji) come back through byte fallback.
TEXTS = [
    "Zwei Männer stehen vor einer großen Tür.",
    "Grüße aus Köln: Ärger über Öl, Äpfel für Öfen.",
    "Двое мужчин стоят у большой двери.",
    "Съешь же ещё этих мягких французских булок",
    "两个男人站在一扇大门前。",
    "東京の大学で日本語を学ぶ",
    "Καλημέρα κόσμε 🙂",
]


@pytest.fixture(scope="module")
def proto():
    return learn_sentencepiece(CORPUS, 400, allow_smaller=True)


def _strings(tensor):
    return [text.decode("utf-8") for text in tensor.numpy()]


def _normalised(proto, texts):
    """What the `sentencepiece` package makes of `texts`: its normaliser's output, spaces restored."""
    normalizer = sentencepiece.SentencePieceNormalizer(model_proto=proto)
    return [normalizer.normalize(text).replace("\u2581", " ").strip() for text in texts]


def test_normalised_text_round_trips_exactly_in_german_russian_and_cjk(proto):
    tokenizer = SentencePieceTokenizer(proto)
    assert _strings(tokenizer.detokenize(tokenizer.tokenize(TEXTS))) == TEXTS
    # The in-graph ids are the `sentencepiece` package's own.
    processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    assert tokenizer.tokenize(TEXTS).to_list() == processor.encode(TEXTS)


def test_text_is_given_back_as_sentencepiece_normalises_it(proto):
    tokenizer = SentencePieceTokenizer(proto)
    raw = ["  Grüße   aus\tKöln ", "ｆｕｌｌ　ｗｉｄｔｈ", "Ａ① ㌔"]
    decoded = _strings(tokenizer.detokenize(tokenizer.tokenize(raw)))
    assert decoded == _normalised(proto, raw) == ["Grüße aus Köln", "full width", "A1 キロ"]


def test_special_ids_match_the_seq2seq_model_and_no_text_is_unknown(proto):
    tokenizer = SentencePieceTokenizer(proto)
    assert _strings(tokenizer.id_to_piece(tf.range(4))) == list(SPECIAL_PIECES)
    ids = tokenizer.tokenize(TEXTS).flat_values.numpy()
    assert ids.min() > 3  # no padding, start, end or <unk> inside a text


def test_detokenize_reads_up_to_the_end_token_and_skips_padding_and_start(proto):
    tokenizer = SentencePieceTokenizer(proto)
    pieces = tokenizer.tokenize(["Ein Mädchen", "两个男人"]).to_list()
    decoded = np.zeros((2, 12), np.int32)
    decoded[0, : len(pieces[0]) + 3] = [START_ID, *pieces[0], END_ID, pieces[1][0]]
    decoded[1, : len(pieces[1])] = pieces[1]
    assert _strings(tokenizer.detokenize(decoded)) == ["Ein Mädchen", "两个男人"]


def test_model_file_saves_and_loads_and_a_foreign_model_is_refused(proto, tmp_path):
    path = tmp_path / "spm.model"
    SentencePieceTokenizer(proto).save(str(path))
    assert SentencePieceTokenizer.from_file(str(path)).model_proto == proto
    assert sentencepiece.SentencePieceProcessor(model_file=str(path)).encode("Tür") != []
    default_ids = _train_with_package_defaults()
    with pytest.raises(ValueError, match="ids 0-3 must be"):
        SentencePieceTokenizer(default_ids)


def _train_with_package_defaults():
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=200,
        hard_vocab_limit=False, minloglevel=2,
    )
    return model.getvalue()


def test_bad_training_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="`model_type` must be one of"):
        learn_sentencepiece(CORPUS, 400, model_type="word piece")
    with pytest.raises(ValueError, match="SentencePiece training failed.*Vocabulary size"):
        learn_sentencepiece(CORPUS, 100000)


def test_preprocessor_makes_teacher_forcing_pairs_in_a_tf_function(proto):
    tokenizer = SentencePieceTokenizer(proto)
    preprocessor = Seq2SeqPreprocessor(tokenizer, sequence_length=16, target_sequence_length=6)
    source, target = "Ein Mädchen", "Девочка бежит через улицу. Двое мужчин стоят."
    features, target_out = tf.function(preprocessor)(tf.constant([source]), tf.constant([target]))
    source_pieces = tokenizer.tokenize([source]).to_list()[0]
    assert len(source_pieces) < 15 and len(tokenizer.tokenize([target]).to_list()[0]) > 5
    target_pieces = tokenizer.tokenize([target]).to_list()[0][:5]  # cut to fit
    assert features["source_ids"].shape == (1, 16) and target_out.shape == (1, 6)
    assert features["source_ids"].numpy()[0].tolist() == (
        source_pieces + [END_ID] + [0] * (15 - len(source_pieces)))
    assert features["target_in_ids"].numpy()[0].tolist() == [START_ID, *target_pieces]
    # The cut target keeps its first 5 pieces, then its end token.
    assert target_out.numpy()[0].tolist() == [*target_pieces, END_ID]
    short_out = preprocessor(["a"], ["Tür"])[1].numpy()
    assert _strings(preprocessor.detokenize(short_out)) == ["Tür"]


def test_a_bert_source_side_reads_sources_as_the_task_models_do(proto):
    bert_source = ClassificationPreprocessor(
        learn_vocabulary(CORPUS, 300, allow_smaller=True), sequence_length=10
    )
    tokenizer = SentencePieceTokenizer(proto)
    preprocessor = Seq2SeqPreprocessor(bert_source, tokenizer, target_sequence_length=12)
    sources, targets = ["Zwei Männer stehen vor der Tür.", "Ein Mädchen"], ["两个男人", "Девочка"]
    features, target_out = tf.function(preprocessor)(tf.constant(sources), tf.constant(targets))
    assert preprocessor.sequence_length == 10
    # [CLS] pieces [SEP], padded with [PAD] (id 0), cut to fit: the classifier's token ids.
    np.testing.assert_array_equal(features["source_ids"], bert_source(sources)["token_ids"])
    assert features["source_ids"].shape == (2, 10) and not features["source_ids"].numpy()[1, -1]
    target_pieces = tokenizer.tokenize(targets[:1]).to_list()[0]
    assert features["target_in_ids"].numpy()[0].tolist()[: len(target_pieces) + 1] == [
        START_ID, *target_pieces]
    assert _strings(preprocessor.detokenize(target_out)) == targets
    with pytest.raises(ValueError, match="needs a `target_tokenizer` of its own.*; `sequence_length` "
                                         "equal to the preprocessor's 10 \\(got 12\\)"):
        Seq2SeqPreprocessor(bert_source, sequence_length=12)
    padded_apart = ClassificationPreprocessor(bert_source.vocabulary, 10, dynamic_padding=True)
    with pytest.raises(ValueError, match="`dynamic_padding=False`"):
        Seq2SeqPreprocessor(padded_apart, tokenizer)
