"""Trains a simplified-Transformer text classifier; with no flags, on DEMO data.

    python -m trainers.train            # the README's main job
    python -m trainers.train --epochs=5 --num_heads=2 --layout=parallel
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("train_examples", 4000, "DEMO training examples to generate.")
flags.DEFINE_integer("eval_examples", 1000, "DEMO evaluation examples to generate.")
flags.DEFINE_integer("vocabulary_size", 400, "Largest WordPiece vocabulary to learn.")
flags.DEFINE_integer("sequence_length", 32, "Tokens per example, [CLS] and [SEP] included.")
flags.DEFINE_integer("hidden_dim", 64, "Model width.")
flags.DEFINE_integer("num_layers", 2, "Encoder blocks.")
flags.DEFINE_integer("num_heads", 1, "Attention heads.")
flags.DEFINE_integer("num_kv_heads", None, "Key/value heads (1 = multi-query).")
flags.DEFINE_enum("layout", "sequential", ["sequential", "parallel"], "Block layout.")
flags.DEFINE_enum("norm", "post", ["post", "pre", "none"], "Layer-norm placement.")
flags.DEFINE_enum("residual", "add", ["add", "rezero", "scaled"], "Residual mode.")
flags.DEFINE_boolean("value_free", False, "Attention without value/output projections.")
flags.DEFINE_float("dropout", 0.1, "Dropout rate in the blocks and before the head.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("epochs", 4, "Passes over the training data.")
flags.DEFINE_float("learning_rate", 2e-3, "Peak learning rate of the warm-up/decay schedule.")
flags.DEFINE_integer("seed", 0, "Seed for data generation and initialisation.")


def _dataset(preprocessor, label_encoder, texts, labels, batch_size, shuffle_seed=None):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(texts), seed=shuffle_seed)
    return (
        dataset.batch(batch_size)
        .map(
            lambda text, label: (preprocessor(text), label_encoder(label)),
            num_parallel_calls=-1,
        )
        .prefetch(-1)
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import keras

    from keras_simpletf import data, layers, models, text

    keras.utils.set_random_seed(FLAGS.seed)
    train_texts, train_labels = data.demo_sentiment(FLAGS.train_examples, seed=FLAGS.seed)
    eval_texts, eval_labels = data.demo_sentiment(FLAGS.eval_examples, seed=FLAGS.seed + 1)

    vocabulary = text.learn_vocabulary(train_texts, FLAGS.vocabulary_size)
    preprocessor = text.ClassificationPreprocessor(
        vocabulary, sequence_length=FLAGS.sequence_length
    )
    label_encoder = text.LabelEncoder(data.SENTIMENT_LABELS)
    train = _dataset(
        preprocessor,
        label_encoder,
        train_texts,
        train_labels,
        FLAGS.batch_size,
        shuffle_seed=FLAGS.seed,
    )
    evaluation = _dataset(
        preprocessor, label_encoder, eval_texts, eval_labels, FLAGS.batch_size
    )

    encoder = layers.TransformerEncoder(
        vocabulary_size=len(vocabulary),
        num_layers=FLAGS.num_layers,
        hidden_dim=FLAGS.hidden_dim,
        max_length=FLAGS.sequence_length,
        num_heads=FLAGS.num_heads,
        num_kv_heads=FLAGS.num_kv_heads,
        layout=FLAGS.layout,
        norm=FLAGS.norm,
        residual=FLAGS.residual,
        value_free=FLAGS.value_free,
        dropout=FLAGS.dropout,
    )
    model = models.TextClassifier(
        encoder, labels=data.SENTIMENT_LABELS, dropout=FLAGS.dropout
    )
    model.compile(
        optimizer=model.default_optimizer(
            total_steps=FLAGS.epochs * len(train), learning_rate=FLAGS.learning_rate
        ),
        loss=model.default_loss(),
        metrics=["accuracy"],
    )
    # The dataset shuffles itself; `shuffle=False` only tells Keras not to warn.
    model.fit(
        train, validation_data=evaluation, epochs=FLAGS.epochs, shuffle=False, verbose=2
    )
    _, accuracy = model.evaluate(evaluation, verbose=0)
    print(f"DEMO sentiment accuracy on {FLAGS.eval_examples} held-out examples: {accuracy:.4f}")


def run():
    """Console-script entry point (`simpletf-train`)."""
    app.run(main)


if __name__ == "__main__":
    run()
