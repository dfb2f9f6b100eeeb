"""Tests for keras_simpletf/models/question_answering.py: span head, answers across windows, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import demo_qa, labelled_columns
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.metrics import squad_scores
from keras_simpletf.models import SpanQuestionAnswerer, answer_spans
from keras_simpletf.text import QuestionAnsweringPreprocessor, learn_vocabulary

# Windows of 32 tokens moved 8 at a time: many DEMO contexts need two.
WINDOWS = dict(sequence_length=32, doc_stride=8, max_question_length=12)


def training_data(examples, preprocessor):
    columns = labelled_columns(examples)
    windows = tf.data.Dataset.from_tensor_slices(columns).batch(64).map(preprocessor).unbatch()
    return windows.shuffle(5000, seed=0).batch(32)


@pytest.fixture(scope="module")
def trained():
    """A tiny model of our encoder trained from scratch on DEMO questions, a fifth unanswerable."""
    keras.utils.set_random_seed(0)
    examples = demo_qa(1000, seed=0, unanswerable=0.2)
    vocabulary = learn_vocabulary(
        [e.question for e in examples] + [e.context for e in examples], 200, allow_smaller=True
    )
    preprocessor = QuestionAnsweringPreprocessor(vocabulary, **WINDOWS)
    model = SpanQuestionAnswerer(TransformerEncoder(len(vocabulary), num_layers=2, hidden_dim=64))
    model.compile(keras.optimizers.AdamW(3e-3), model.default_loss())
    model.fit(training_data(examples, preprocessor), epochs=3, verbose=0)
    return model, preprocessor


def test_learns_demo_questions_to_high_exact_match_across_windows(trained):
    model, preprocessor = trained
    examples = [e for e in demo_qa(200, seed=7) if e.answers]
    windows = preprocessor([e.question for e in examples], [e.context for e in examples])
    assert np.mean(np.bincount(windows["example_index"].numpy()) >= 2) > 0.3
    answers = model.predict_answers(
        [e.question for e in examples], [e.context for e in examples], preprocessor, batch_size=16
    )
    for example, answer in zip(examples, answers):
        assert example.context[answer["start"] : answer["end"]] == answer["text"]
    scores = squad_scores([a["text"] for a in answers], [list(e.answers) for e in examples])
    assert scores["exact_match"] >= 90


def test_null_score_threshold_answers_unanswerable_questions_with_nothing(trained):
    model, preprocessor = trained
    examples = demo_qa(200, seed=8, unanswerable=0.5)
    features = preprocessor([e.question for e in examples], [e.context for e in examples])
    logits = model.predict_on_batch(
        {key: features[key] for key in ("token_ids", "segment_ids", "padding_mask")}
    )
    contexts = tf.constant([e.context for e in examples])
    args = (contexts, logits, features["example_index"], features["token_starts"], features["token_ends"])
    always = answer_spans(*args)["answer"].numpy()
    assert all(always)  # SQuAD v1.1: every question gets a span.
    spans = answer_spans(*args, null_score_threshold=0.0)
    predictions = [text.decode() for text in spans["answer"].numpy()]
    scores = squad_scores(predictions, [list(e.answers) for e in examples])
    assert scores["HasAns_exact"] >= 85 and scores["NoAns_exact"] >= 85
    assert np.all(spans["start"].numpy()[[not p for p in predictions]] == -1)


def test_answer_spans_pick_the_best_span_across_windows_within_the_length():
    contexts = tf.constant(["Ünï ab cd", "xy"])
    # Three windows: two of question 0, one of question 1; length 5, [CLS] at 0.
    starts = tf.constant([[-1, 0, 6, -1, -1], [-1, 9, -1, -1, -1], [-1, 0, -1, -1, -1]])
    ends = tf.constant([[-1, 5, 8, -1, -1], [-1, 11, -1, -1, -1], [-1, 2, -1, -1, -1]])
    index = tf.constant([0, 0, 1])
    logits = np.full((3, 2, 5), -5.0, "float32")
    logits[0, :, 1:3] = [[2.0, 0.0], [0.0, 1.0]]  # window 0: "Ünï" 2, "Ünï ab" 3
    logits[1, :, 1] = [1.0, 2.5]  # window 1: "cd" 3.5, the best
    logits[2, :, 0] = [4.0, 4.0]  # question 1: [CLS] 8 against "xy" -10
    spans = answer_spans(contexts, logits, index, starts, ends)
    assert spans["answer"].numpy().tolist() == [b"cd", b"xy"]
    # Character offsets: "Ünï" is 5 bytes but 3 characters.
    assert spans["start"].numpy().tolist() == [7, 0] and spans["end"].numpy().tolist() == [9, 2]
    np.testing.assert_allclose(spans["score"].numpy(), [3.5, -10.0])
    logits[1, 1, 1] = 1.0  # now window 0's two-token span (3.0) beats "cd" (2.0) ...
    assert answer_spans(contexts, logits, index, starts, ends)["answer"].numpy()[0] == b"\xc3\x9cn\xc3\xaf ab"
    # ... unless answers are one token long.
    one = answer_spans(contexts, logits, index, starts, ends, max_answer_length=1)
    assert one["answer"].numpy()[0] == b"\xc3\x9cn\xc3\xaf"
    null = answer_spans(contexts, logits, index, starts, ends, null_score_threshold=0.0)
    assert null["answer"].numpy().tolist() == [b"\xc3\x9cn\xc3\xaf ab", b""]
    assert null["start"].numpy().tolist() == [0, -1]
    np.testing.assert_allclose(null["score"].numpy(), [3.0, 8.0])


def test_saved_model_loads_back_with_its_settings_and_answers_the_same(trained, tmp_path):
    model, preprocessor = trained
    model.null_score_threshold = 1.5
    path = tmp_path / "qa.keras"
    try:
        model.save(path)
    finally:
        model.null_score_threshold = None
    restored = keras.saving.load_model(path)
    assert isinstance(restored, SpanQuestionAnswerer)
    assert (restored.max_answer_length, restored.null_score_threshold) == (30, 1.5)
    features = preprocessor(["When was Tom Baker born?"], ["Tom Baker was born in 1980."])
    inputs = {key: features[key] for key in ("token_ids", "segment_ids", "padding_mask")}
    np.testing.assert_allclose(restored.predict_on_batch(inputs), model.predict_on_batch(inputs), atol=1e-5)
    [answer] = restored.predict_answers(["When was Tom Baker born?"], ["Tom Baker was born in 1980."], preprocessor)
    assert answer["text"] == "1980"


def test_predict_answers_under_a_mirrored_strategy_answers_each_question_once(
    trained, two_cpu_strategy
):
    model, preprocessor = trained
    with two_cpu_strategy.scope():
        mirrored = SpanQuestionAnswerer.from_config(model.get_config())
        if not mirrored.built:
            mirrored.build({key: (None, 32) for key in ("token_ids", "segment_ids", "padding_mask")})
    mirrored.set_weights(model.get_weights())
    examples = demo_qa(34, seed=9)
    questions, contexts = [e.question for e in examples], [e.context for e in examples]
    # 34 questions in batches of 16: the last batch is short, and contexts span several windows.
    answers = mirrored.predict_answers(questions, contexts, preprocessor, batch_size=16)
    assert answers == model.predict_answers(questions, contexts, preprocessor, batch_size=16)
