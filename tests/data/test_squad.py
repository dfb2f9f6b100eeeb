"""Tests for keras_simpletf/data/squad.py and data/demo_qa.py: SQuAD JSON and JSONL readers, DEMO QA data."""

import json

import pytest

from keras_simpletf.data import DataError, QuestionAnswer, demo_qa, iter_squad, read_squad

OFFICIAL = {
    "version": "v2.0",
    "data": [
        {
            "title": "Broncos",
            "paragraphs": [
                {
                    "context": "The Denver Broncos won Super Bowl 50 in Santa Clara.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Who won?",
                            "answers": [
                                {"text": "Denver Broncos", "answer_start": 4},
                                {"text": "The Denver Broncos", "answer_start": 0},
                            ],
                        },
                        {"id": "q2", "question": "Who lost?", "answers": [], "is_impossible": True},
                    ],
                }
            ],
        },
        {
            "title": "Zürich",
            "paragraphs": [
                {"context": "Zürich liegt am See.", "qas": [
                    {"id": "q3", "question": "Woran?", "answers": [{"text": "See", "answer_start": 16}]}
                ]}
            ],
        },
    ],
}


def write_json(tmp_path, document, name="dev.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_reads_the_official_layout_with_unanswerable_questions(tmp_path):
    examples = read_squad(write_json(tmp_path, OFFICIAL))
    assert [e.id for e in examples] == ["q1", "q2", "q3"]
    assert examples[0].answers == ("Denver Broncos", "The Denver Broncos")
    assert examples[0].answer_starts == (4, 0)
    assert examples[1].is_impossible and examples[1].answers == ()
    # Character (not byte) offsets after a multi-byte character.
    assert examples[2].context[16:19] == "See"


def test_official_errors_name_the_file_and_the_record(tmp_path):
    document = json.loads(json.dumps(OFFICIAL))
    document["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 15
    path = write_json(tmp_path, document)
    with pytest.raises(DataError, match=r"dev\.json:data\[1\]\.paragraphs\[0\]\.qas\[0\] "
                                        r"\(id 'q3'\): answers\[0\] 'See' is not at answer_start=15"):
        read_squad(path)
    del document["data"][0]["paragraphs"][0]["qas"][1]["question"]
    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[1\]: missing 'question'"):
        read_squad(write_json(tmp_path, document))
    (tmp_path / "broken.json").write_text('{"data": [\n  {"title": }\n]}')
    with pytest.raises(DataError, match=r"broken\.json:2: not JSON"):
        read_squad(tmp_path / "broken.json")


def test_reads_json_lines_in_three_answer_layouts(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "Who?", "context": "Ada wrote it.",
         "answers": [{"text": "Ada", "answer_start": 0}]},
        {"question": "What?", "context": "Ada wrote it.",
         "answers": {"text": ["it", "wrote it"], "answer_start": [10, 4]}},
        {"question": "Did?", "context": "Ada wrote it.", "answers": ["wrote"]},
        {"question": "None?", "context": "Ada wrote it.", "answers": []},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    examples = list(iter_squad(path))
    assert examples[0] == QuestionAnswer("a", "Who?", "Ada wrote it.", ("Ada",), (0,))
    assert examples[1].answers == ("it", "wrote it") and examples[1].answer_starts == (10, 4)
    assert examples[1].id == f"{path}:2"
    assert examples[2].answer_starts == (4,)
    assert examples[3].is_impossible


def test_a_byte_order_mark_may_open_either_layout(tmp_path):
    official = tmp_path / "bom.json"
    official.write_text(json.dumps(OFFICIAL), encoding="utf-8-sig")
    assert [e.id for e in read_squad(official)] == ["q1", "q2", "q3"]
    lines = tmp_path / "bom.jsonl"
    lines.write_text('{"question": "Q", "context": "C", "answers": ["C"]}\n', encoding="utf-8-sig")
    assert read_squad(lines)[0].answers == ("C",)


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"question": "Q", "context": "C"}', "missing 'answers'"),
        ('{"question": 3, "context": "C", "answers": []}', "'question' must be a string"),
        ('{"question": "Q", "context": "C", "answers": ["X"]}', "answers\\[0\\] 'X' does not occur"),
        ('{"question": "Q", "context": "C", "answers": {"text": ["C"], "answer_start": []}}',
         "answers has 1 texts but 0 answer_start"),
        ('{"question": "Q", "context": "C", "answers": [{"text": "C"}]}',
         "missing 'answers\\[0\\].answer_start'"),
        ("not json", "not a JSON object"),
    ],
)
def test_json_lines_errors_name_the_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "Q", "context": "C", "answers": ["C"]}\n' + line + "\n")
    with pytest.raises(DataError, match=rf"bad\.jsonl:2: {problem}"):
        read_squad(path)


def test_demo_answers_are_spans_of_their_contexts_and_deterministic():
    examples = demo_qa(300, seed=3, unanswerable=0.25)
    assert examples == demo_qa(300, seed=3, unanswerable=0.25)
    answerable = [e for e in examples if not e.is_impossible]
    assert 150 < len(answerable) < 300
    for example in answerable:
        start = example.answer_starts[0]
        assert example.context[start : start + len(example.answers[0])] == example.answers[0]
    # An unanswerable question asks about a person its context does not mention.
    for example in examples:
        if example.is_impossible:
            person = example.question.split(" ", 2)[2].rsplit(" ", 1)[0]
            assert person not in example.context
