"""Tests for keras_simpletf/text/question_answering.py: windows over long contexts, offsets, answer positions."""

import keras
import numpy as np
import pytest

from keras_simpletf.data import demo_qa
from keras_simpletf.text import QuestionAnsweringPreprocessor, learn_vocabulary

CONTEXTS = [
    "Zoë Müller lives in Zürich. Her café opened in 1999, and the café is still open today.",
    "Short.",
    "",
]


@pytest.fixture(scope="module")
def vocabulary():
    examples = demo_qa(200)
    texts = [e.question for e in examples] + [e.context for e in examples] + CONTEXTS
    return learn_vocabulary(texts, 400, allow_smaller=True)


def preprocessor_of(vocabulary, **kwargs):
    arguments = dict(sequence_length=16, doc_stride=3, max_question_length=4)
    return QuestionAnsweringPreprocessor(vocabulary, **{**arguments, **kwargs})


def test_windows_cover_the_context_with_stride_and_map_back_to_its_bytes(vocabulary):
    preprocessor = preprocessor_of(vocabulary)
    questions = ["Where does Zoë Müller live now?", "Why?", "What?"]
    features = preprocessor(questions, CONTEXTS)
    rows = keras.ops.convert_to_numpy
    index, starts, ends = (rows(features[k]) for k in ("example_index", "token_starts", "token_ends"))
    token_ids, segment_ids = rows(features["token_ids"]), rows(features["segment_ids"])
    whole_context, _, _ = preprocessor.tokenizer.tokenize_with_offsets(CONTEXTS)
    for example, context in enumerate(CONTEXTS):
        windows = np.flatnonzero(index == example)
        encoded = context.encode("utf-8")
        pieces = whole_context[example].numpy().tolist()
        # Question (4 pieces at most) + 3 special tokens leave 16 - 3 - 4 = 9 context pieces.
        room = 16 - 3 - min(4, len(preprocessor.tokenizer.tokenize([questions[example]])[0]))
        expected_windows = 1 + max(0, -(-(len(pieces) - room) // 3))
        assert len(windows) == expected_windows
        covered = set()
        for number, window in enumerate(windows):
            is_context = starts[window] >= 0
            assert np.all(segment_ids[window][is_context] == 1)
            assert token_ids[window][is_context].tolist() == pieces[3 * number : 3 * number + room]
            for position in np.flatnonzero(is_context):
                covered.add((starts[window, position], ends[window, position]))
                piece = encoded[starts[window, position] : ends[window, position]].decode("utf-8")
                assert piece.strip() == piece and piece  # a span of the text, no whitespace
        assert len(covered) == len(pieces)
    # Bytes, not characters: "Zoë" is 4 bytes, so "Müller" starts at byte 5.
    first = np.flatnonzero(index == 0)[0]
    assert CONTEXTS[0].encode()[starts[first][starts[first] >= 0][1]:].startswith("Müller".encode())


def test_answer_positions_point_at_the_answer_or_at_cls(vocabulary):
    preprocessor = preprocessor_of(vocabulary)
    context = CONTEXTS[0]
    questions, contexts = ["When?", "Where?", "Who?"], [context, context, "Short."]
    answers, answer_starts = ["1999", "Zürich", ""], [context.index("1999"), 20, 0]
    _, positions = preprocessor(questions, contexts, answer_starts, answers)
    features = preprocessor(questions, contexts)
    index, starts, ends, positions = (
        keras.ops.convert_to_numpy(value)
        for value in (features["example_index"], features["token_starts"], features["token_ends"], positions)
    )
    encoded = context.encode("utf-8")
    windows_with_answer = []
    for example, answer in enumerate(answers[:2]):
        found = 0
        for window in np.flatnonzero(index == example):
            first, last = positions[window]
            if (first, last) == (0, 0):
                # Then the answer is not whole in the window.
                window_bytes = encoded[starts[window][starts[window] >= 0].min() : ends[window].max()]
                assert answer.encode() not in window_bytes
                continue
            found += 1
            assert encoded[starts[window, first] : ends[window, last]].decode() == answer
        windows_with_answer.append((found, np.sum(index == example)))
    # "1999" lies in every window, "Zürich" (near the start) in the first two of four.
    assert windows_with_answer == [(4, 4), (2, 4)]
    assert positions[index == 2].tolist() == [[0, 0]]


def test_rejects_windows_that_cannot_work_and_round_trips_its_config(vocabulary):
    with pytest.raises(ValueError, match=r"`doc_stride` must be in \[1, 9\]"):
        preprocessor_of(vocabulary, doc_stride=10)
    with pytest.raises(ValueError, match="`max_question_length` must be in"):
        preprocessor_of(vocabulary, max_question_length=13)
    preprocessor = preprocessor_of(vocabulary)
    restored = QuestionAnsweringPreprocessor.from_config(preprocessor.get_config())
    features, restored_features = preprocessor(["Why?"], [CONTEXTS[0]]), restored(["Why?"], [CONTEXTS[0]])
    for key, value in features.items():
        np.testing.assert_array_equal(value, restored_features[key])
