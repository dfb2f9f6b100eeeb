"""Tests for trainers/tasks.py and trainers/backbones.py, run in process through train():
classification files read by their named columns, casing, the vocabulary size and sequence
length reaching every part, NER scored over every word of every sentence, and
`--tfidf_average`'s linear model averaged in at inference only."""

import re

import numpy as np
import pytest
import tensorflow as tf
from seqeval.metrics import f1_score

from keras_simpletf.data import demo_sentiment
from keras_simpletf.metrics import extract_entities
from tests.trainers.jobs import TINY, TINY_MODEL
from trainers import inputs, tasks
from trainers.config import SettingsError, parse_settings
from trainers.train import train, weights_digest


def tiny_job(*flags):
    return train(parse_settings([*TINY, *flags]))


def tiny_file_job(*flags):
    """A tiny model on the --train_data file that `flags` name (DEMO sizes do not apply)."""
    return train(parse_settings([*TINY_MODEL, *flags]))


def write_sentiment_tsv(path, size, seed, header="sentence\tlabel"):
    texts, labels = demo_sentiment(size, seed=seed)
    rows = [header] if header else []
    path.write_text("\n".join(rows + [f"{t}\t{y}" for t, y in zip(texts, labels)]) + "\n")
    return texts, labels


def test_a_classification_file_is_read_by_the_columns_the_flags_name(tmp_path):
    texts, labels = write_sentiment_tsv(tmp_path / "train.tsv", 64, seed=0)
    eval_texts, _ = write_sentiment_tsv(tmp_path / "eval.tsv", 24, seed=1)
    result = tiny_file_job(
        f"--train_data={tmp_path / 'train.tsv'}", f"--eval_data={tmp_path / 'eval.tsv'}",
        "--text_column=sentence", "--train_steps=4",
    )
    assert result.task.train_examples.inputs == texts
    assert result.task.train_examples.labels == labels
    assert result.task.eval_examples.inputs == eval_texts
    assert result.task.report(result.results).startswith(
        f"{tmp_path / 'eval.tsv'} accuracy on 24 held-out examples: "
    )


def test_a_file_without_a_header_is_read_by_column_index(tmp_path):
    texts, labels = write_sentiment_tsv(tmp_path / "train.tsv", 32, seed=0, header=None)
    result = tiny_file_job(
        f"--train_data={tmp_path / 'train.tsv'}", "--text_column=0", "--label_column=1",
        "--train_steps=2",
    )
    assert result.task.train_examples.inputs == texts
    assert result.task.train_examples.labels == labels


def test_sentence_pairs_are_packed_as_two_segments(tmp_path):
    premises, labels = demo_sentiment(32, seed=0)
    hypotheses, _ = demo_sentiment(32, seed=1)
    rows = ["premise,hypothesis,label"]
    rows += [f"{p},{h},{y}" for p, h, y in zip(premises, hypotheses, labels)]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    result = tiny_file_job(
        f"--train_data={tmp_path / 'pairs.csv'}", "--text_column=premise",
        "--text_pair_column=hypothesis", "--train_steps=2",
    )
    assert result.task.train_examples.pairs == hypotheses
    features, _ = next(iter(inputs.training_batches(result.task, 16, seed=0)))
    segments = features["segment_ids"].numpy()
    assert set(np.unique(segments)) == {0, 1}  # the hypothesis is the second segment
    assert result.steps == 2


def test_a_missing_column_names_the_flags_file_and_line(tmp_path):
    write_sentiment_tsv(tmp_path / "train.tsv", 32, seed=0)
    expected = (
        rf"--train_data={tmp_path / 'train.tsv'}: .*train\.tsv:1: the header has no column "
        r"\['text'\].*\['sentence', 'label'\] \(read with --text_column=text, --label_column=label\)"
    )
    with pytest.raises(SettingsError, match=expected):
        tiny_file_job(f"--train_data={tmp_path / 'train.tsv'}")


def test_a_classification_file_of_one_label_is_named(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\tpos\n" for t in demo_sentiment(32, seed=0)[0]))
    with pytest.raises(SettingsError, match=re.escape(
        f"--train_data={path}: every example is labelled 'pos'; a classifier needs two labels or "
        "more (read with --text_column=text, --label_column=label)."
    )):
        tiny_file_job(f"--train_data={path}")


def task_of(*flags):
    return tasks.create_task(parse_settings([*TINY, *flags]))


def has_upper_case(vocabulary):
    return any(token.lower() != token for token in vocabulary if not token.startswith("["))


def test_ner_keeps_case_and_classification_lowercases_unless_told():
    ner = task_of("--task=ner")
    assert ner.preprocessor.lowercase is False and has_upper_case(ner.vocabulary)
    lowercased = task_of("--task=ner", "--lowercase")
    assert lowercased.preprocessor.lowercase is True and not has_upper_case(lowercased.vocabulary)
    assert task_of().preprocessor.lowercase is True
    assert task_of("--nolowercase").preprocessor.lowercase is False


def test_vocabulary_size_sequence_length_and_feed_forward_width_reach_every_part():
    result = tiny_job("--task=ner", "--vocabulary_size=150", "--sequence_length=20",
                      "--intermediate_dim=24", "--padding=fixed", "--train_steps=2")
    task, encoder = result.task, result.model.backbone
    assert all(block.feedforward.hidden_dense.kernel.shape[-1] == 24 for block in encoder.blocks)
    assert 100 < len(task.vocabulary) <= 150
    assert encoder.vocabulary_size == len(task.vocabulary)
    assert encoder.token_embedding.input_dim == len(task.vocabulary)
    assert encoder.max_length == task.preprocessor.sequence_length == 20
    features, tags = next(iter(inputs.training_batches(task, 16, seed=0)))
    assert features["token_ids"].shape == tags.shape == (16, 20)
    assert int(features["token_ids"].numpy().max()) < len(task.vocabulary)


@pytest.fixture(scope="module")
def short_ner():
    """A tagger trained with sequences too short for many DEMO sentences."""
    return tiny_job(
        "--task=ner", "--vocabulary_size=400", "--sequence_length=10", "--hidden_dim=32",
        "--train_steps=64", "--learning_rate=1e-2", "--dropout=0", "--eval_examples=60",
    )


def test_ner_is_scored_on_every_gold_entity_with_words_past_the_cut_predicted_o(short_ner):
    results, task = short_ner.results, short_ner.task
    gold = task.eval_examples.labels
    assert results["entities"] == sum(len(extract_entities(tags)) for tags in gold)
    predicted = short_ner.model.predict_word_tags(task.eval_examples.inputs, task.preprocessor)
    assert [len(tags) for tags in predicted] == [len(tags) for tags in gold]
    assert results["entity_f1"] == pytest.approx(f1_score(gold, predicted))
    # Some entities lie past the cut, and none of them can be found.
    assert 0 < results["truncated_entities"] < results["entities"]
    assert 0 < results["truncated_sentences"] < len(gold)
    found = results["entity_recall"] * results["entities"]
    assert found <= results["entities"] - results["truncated_entities"]
    assert results["entity_f1"] > 0.3  # It did learn something.


def words_reaching_the_sequence(tokenizer, sentence, sequence_length):
    """Words whose first piece falls before [SEP] in a `sequence_length` row."""
    pieces = [max(1, len(word)) for word in tokenizer.tokenize(sentence).to_list()]
    first_positions = 1 + np.cumsum([0] + pieces[:-1])  # after [CLS]
    return int((first_positions <= sequence_length - 2).sum())


def test_truncation_is_counted_and_reported(short_ner):
    task, results = short_ner.task, short_ner.results
    kept = [
        words_reaching_the_sequence(task.preprocessor.tokenizer, sentence, 10)
        for sentence in task.eval_examples.inputs
    ]
    lengths = [len(sentence) for sentence in task.eval_examples.inputs]
    assert results["truncated_sentences"] == sum(k < n for k, n in zip(kept, lengths))
    assert results["truncated_entities"] == sum(
        last >= k
        for tags, k in zip(task.eval_examples.labels, kept)
        for _, _, last in extract_entities(tags)
    )
    report = task.report(results)
    assert report.startswith(
        f"DEMO NER entity F1 on 60 held-out sentences: {results['entity_f1']:.4f} "
        f"(all {results['entities']} gold entities, words past --sequence_length=10 predicted O"
    )
    assert (
        f"Past --sequence_length=10: {results['truncated_sentences']} of 60 sentences, "
        f"{results['truncated_entities']} of {results['entities']} gold entities. Progress "
        "metric in training, entities within --sequence_length=10 only: "
        f"{results['progress_entity_f1']:.4f}"
    ) in report


def test_a_classifier_job_pretrains_its_encoder_on_the_training_texts_first(tmp_path, capsys):
    flags = ("--pretrain_steps=60", f"--model_dir={tmp_path}")
    result = tiny_job(*flags, "--train_steps=4")
    assert result.model.pooling == "max"
    printed = capsys.readouterr().out
    assert "masked language model: 60 steps on the 256 training texts" in printed
    accuracy = float(re.search(r"Masked-token accuracy after pretraining: (\d\.\d+)", printed)[1])
    assert accuracy > 0.04  # 0.077 measured; at random 0.01 of the 100 pieces
    assert "peak_learning_rate=0.0005" in printed  # the labels learnt at the pretrained rate
    # Resumed, the job restores weights trained past the pretraining, and does not pretrain again.
    tiny_job(*flags, "--train_steps=8")
    assert "masked language model" not in capsys.readouterr().out



def test_a_classifier_job_averages_tfidf_logistic_regression_in_at_inference_only(tmp_path, capsys):
    alone = tiny_job("--train_steps=6")
    flags = ("--tfidf_average", f"--model_dir={tmp_path / 'model'}")
    averaged = tiny_job(*flags, "--train_steps=6", f"--export_dir={tmp_path / 'export'}")
    printed = capsys.readouterr().out
    features = int(re.search(r"n-grams of 1 to 2 words: (\d+) features", printed)[1])
    assert features == len(averaged.model.tfidf.ngrams) > 100
    # The encoder trains as it does without the flag: the linear model takes no part.
    assert weights_digest(averaged.model) == weights_digest(alone.model)
    texts, labels = averaged.task.eval_examples.inputs, averaged.task.eval_examples.labels
    features = averaged.task.preprocessor(texts)
    encoder = alone.model.scores(alone.model(features))
    linear = averaged.model.scores(averaged.model.tfidf(features))
    expected = 0.5 * encoder + 0.5 * linear
    np.testing.assert_allclose(averaged.model.scores(averaged.model(features)), expected, atol=1e-6)
    names = np.asarray(averaged.model.labels)
    assert averaged.results["accuracy"] == pytest.approx(
        np.mean(names[expected.argmax(axis=-1)] == np.asarray(labels)), abs=1e-6
    )
    served = tf.saved_model.load(averaged.export_paths[0]).signatures["serving_default"]
    np.testing.assert_allclose(served(text=tf.constant(texts))["scores"], expected, atol=1e-6)
    # A resumed job restores the fitted weights with the rest.
    resumed = tiny_job(*flags, "--train_steps=8")
    assert resumed.steps == 8 and resumed.model.tfidf is not None


def test_the_tfidf_average_is_refused_where_it_cannot_apply():
    for flags, reason in [
        (["--task=ner"], "does not apply to --task=ner: it averages a classifier's probabilities"),
        (["--teacher=/exports/classifier"], "a student learns the teacher's probabilities alone"),
        (["--strategy=tpu"], "its lookup table and counts do not run on a TPU"),
    ]:
        with pytest.raises(SettingsError, match=reason):
            parse_settings(["--tfidf_average", *flags])
