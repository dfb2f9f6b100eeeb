"""Tests for keras_simpletf/metrics/generation.py: BLEU, chrF and ROUGE from sacreBLEU and rouge-score."""

import pytest

from keras_simpletf.metrics import corpus_bleu, corpus_chrf, corpus_exact_match, rouge

REFERENCES = ["zwei männer stehen vor einer tür .", "ein mädchen läuft über die straße ."]


def test_bleu_is_100_for_the_references_and_falls_with_each_wrong_word():
    assert corpus_bleu(REFERENCES, REFERENCES) == pytest.approx(100)
    one_wrong = ["zwei männer stehen vor einer tor .", REFERENCES[1]]
    assert 50 < corpus_bleu(one_wrong, REFERENCES) < 100
    assert corpus_bleu(["a b c d", "e f g h"], REFERENCES) == 0


def test_bleu_lowercase_and_tokenize_are_sacrebleus_options():
    titled = [text.title() for text in REFERENCES]
    assert corpus_bleu(titled, REFERENCES) < 10
    assert corpus_bleu(titled, REFERENCES, lowercase=True) == pytest.approx(100)
    # "13a" splits "tür." into "tür ."; "none" (pre-tokenized text) does not.
    glued = ["zwei männer stehen vor einer tür.", "ein mädchen läuft über die straße."]
    assert corpus_bleu(glued, REFERENCES) == pytest.approx(100)
    assert corpus_bleu(glued, REFERENCES, tokenize="none") < 90


def test_chrf_rewards_shared_characters_of_wrong_words():
    assert corpus_chrf(REFERENCES, REFERENCES) == pytest.approx(100)
    near = ["zwei männer stand vor einer türe .", "ein mädchen lief über die strasse ."]
    assert corpus_chrf(near, REFERENCES) > 60 > corpus_bleu(near, REFERENCES)


def test_rouge_stems_words_and_reports_rouge_1_2_l():
    scores = rouge(["the cats run home"], ["the cat runs home"])
    assert scores == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    unstemmed = rouge(["the cats run home"], ["the cat runs home"], use_stemmer=False)
    assert unstemmed["rouge1"] == pytest.approx(50)
    reordered = rouge(["home the cat runs"], ["the cat runs home"])
    assert reordered["rouge1"] == 100 > reordered["rougeL"] == 75 > reordered["rouge2"]


def test_exact_match_and_bad_arguments():
    assert corpus_exact_match(["a b", "c"], ["a b", "d"]) == 50
    with pytest.raises(ValueError, match="2 hypotheses and 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match=r"hypotheses\[1\] is bytes"):
        rouge(["a", b"b"], ["a", "b"])
    with pytest.raises(ValueError, match="No hypotheses"):
        corpus_chrf([], [])
