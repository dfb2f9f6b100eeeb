"""Tests for keras_simpletf/metrics/squad.py: the official SQuAD v1.1/v2.0 scoring.

Expected values are worked out by hand from the official scripts' rules
(lower-case, drop string.punctuation, drop the words a/an/the, collapse
whitespace; F1 over the multiset of remaining tokens; max over gold answers).
"""

import pytest

from keras_simpletf.metrics import exact_match, normalize_answer, squad_scores, token_f1


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("The Denver Broncos", "denver broncos"),
        ("  an   apple, a day! ", "apple day"),
        ("theatre", "theatre"),  # "the" only as a whole word
        ("A.D. 1066", "ad 1066"),  # punctuation goes before articles: "a.d." -> "ad"
        ("rock-n-roll", "rocknroll"),
        ("Café «Zürich»", "café «zürich»"),  # only ASCII punctuation is stripped
        ("the a an", ""),
    ],
)
def test_normalizes_like_the_official_script(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_and_f1_where_normalisation_matters():
    assert exact_match("the Denver Broncos!", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    # "denver broncos" vs "broncos": precision 1/2, recall 1 -> F1 2/3.
    assert token_f1("the Denver Broncos", "Broncos") == pytest.approx(2 / 3)
    # A repeated token counts at most as often as in the gold answer: "x x y" vs "x y"
    # have min(2, 1) + min(1, 1) = 2 tokens in common, precision 2/3, recall 1 -> 0.8.
    assert token_f1("x x y", "x y") == pytest.approx(0.8)
    assert token_f1("Santa Clara", "Levi's Stadium") == 0.0
    # SQuAD v2.0: an empty prediction is right for an empty (no-answer) gold; v1.1 finds
    # no token in common.
    assert token_f1("", "", version="2.0") == 1.0 and token_f1("", "the", version="2.0") == 1.0
    assert token_f1("", "") == 0.0 and token_f1("a", "the") == 0.0
    assert token_f1("Broncos", "") == 0.0 and token_f1("Broncos", "", version="2.0") == 0.0
    with pytest.raises(ValueError, match=r"`version` must be one of \('1.1', '2.0'\), got '3'"):
        token_f1("Broncos", "Broncos", version="3")


def test_gold_answers_that_normalise_to_nothing_count_in_squad_1_1_only():
    # SQuAD v1.1's dev set has a gold answer "." (5725bad5271a42140099d0c1).
    gold = {"q1": [".", "renewal of hostilities"], "q2": ["The"]}
    predictions = {"q1": "the", "q2": "a"}
    # evaluate-v1.1.py: "the" and "." both normalise to "", so EM 1 and F1 0 for each.
    assert squad_scores(predictions, gold) == {"exact_match": 100.0, "f1": 0.0, "total": 2}
    # evaluate-v2.0.py drops "." and scores "the" against "renewal of hostilities"; q2's gold
    # becomes "" (no answer), which the empty prediction "a" matches.
    scores = squad_scores(predictions, gold, version="2.0")
    assert scores == {"exact_match": 50.0, "f1": 50.0, "total": 2}


def test_scores_take_the_best_gold_answer_and_average_in_percent():
    gold = {"q1": ["Denver Broncos", "The Denver Broncos"], "q2": ["Santa Clara, California"]}
    predictions = {"q1": "denver broncos", "q2": "Santa Clara"}
    scores = squad_scores(predictions, gold)
    # q1: EM 1, F1 1. q2: EM 0; "santa clara" vs "santa clara california": P 1, R 2/3 -> F1 0.8.
    assert scores == {"exact_match": 50.0, "f1": pytest.approx(90.0), "total": 2}
    # A question without a prediction scores 0.
    assert squad_scores({"q1": "Denver Broncos"}, gold)["f1"] == 50.0


def test_squad_2_splits_answerable_and_unanswerable_questions():
    gold = [["Broncos"], [], ["Panthers"], []]
    predictions = ["Broncos", "", "the Broncos", "Carolina"]
    scores = squad_scores(predictions, gold)
    assert scores["total"] == 4 and scores["exact_match"] == 50.0
    assert (scores["HasAns_exact"], scores["HasAns_total"]) == (50.0, 2)
    assert (scores["NoAns_exact"], scores["NoAns_f1"], scores["NoAns_total"]) == (50.0, 50.0, 2)
    # The split goes by whether a question has gold answers, as evaluate-v2.0.py's
    # `bool(qa["answers"])`, not by what is left of them after normalising.
    scores = squad_scores(predictions + ["x"], gold + [["."]])
    assert (scores["HasAns_total"], scores["NoAns_total"]) == (3, 2)
    with pytest.raises(ValueError, match="3 predictions for 4 questions"):
        squad_scores(predictions[:3], gold)
    with pytest.raises(ValueError, match="Question 1 has no gold answer: SQuAD v1.1"):
        squad_scores(predictions, gold, version="1.1")
