"""Tests for keras_simpletf/data/demo_summarization.py."""

import re

from keras_simpletf.data import demo_summarization


def test_summaries_name_the_buyer_of_the_purchase_turn_the_other_speaker_count_and_item():
    dialogues, summaries = demo_summarization(200, seed=3)
    assert (dialogues, summaries) == demo_summarization(200, seed=3)
    assert dialogues != demo_summarization(200, seed=4)[0]
    for dialogue, summary in zip(dialogues, summaries):
        turns = re.findall(r"(\w+): ([^:]+?)(?= \w+:|$)", dialogue)
        assert 2 <= len(turns) <= 4
        speakers = [speaker for speaker, _ in turns]
        assert all(a != b for a, b in zip(speakers, speakers[1:])) and len(set(speakers)) == 2
        (buyer, purchase), = [(s, turn) for s, turn in turns if turn.startswith("i would like")]
        amount, item = re.fullmatch(r"i would like (\w+) (\w+) , please \.", purchase).groups()
        seller = (set(speakers) - {buyer}).pop()
        assert summary == f"{buyer} buys {amount} {item} from {seller} ."
