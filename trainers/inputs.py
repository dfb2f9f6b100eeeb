"""The input pipelines both loops train and evaluate on.

Batches are full global batches; boolean features (the padding mask) travel as
int32. With `--padding=fixed` every batch has the preprocessors' sequence
length, the static shapes TPUs and XLA need. With `--padding=dynamic` (the
preprocessors' `dynamic_padding`) a batch is as long as its longest example,
and training batches are drawn from buckets of examples of similar token
length (`tf.data`'s `bucket_by_sequence_length`), so little of a batch is
padding: on SST-2's short phrases most batches are a fraction of 128 tokens. The strategy splits each global batch
evenly across its replicas (`model.fit` distributes the dataset itself; the
custom loop calls `experimental_distribute_dataset`).

Training data is one endless stream of batches in which pass `p` over the
examples visits them in the order `stateless_shuffle(seed=(seed, p))`: the
stream is a pure function of the seed, however often and wherever the
dataset is iterated, so a resumed job skips exactly the batches its restored
step count consumed and carries on in the middle of a pass. (Under
`mixed_float16` a step whose gradients overflow consumes a batch without
counting as a step, so a resumed job may see a few batches again.)
"""

import tensorflow as tf

from keras_simpletf.distillation import cache_teacher_logits
from trainers.config import labels_from_teacher


def training_batches(task, global_batch_size, seed, start_step=0):
    """The stream of `(features, label_ids)` training batches, from batch `start_step` on.

    Texts the teacher labels (`--unlabelled_data`, `--augmented_copies`) give
    `teacher_labelled_batches` instead.

    Args:
        task: a `trainers.tasks` task.
        global_batch_size: int, examples per step across all replicas.
        seed: int, the shuffling seed.
        start_step: int, batches to skip: the optimizer steps already taken.
    """
    if labels_from_teacher(task.settings):
        return teacher_labelled_batches(task, global_batch_size, seed, start_step)
    columns = task.columns(task.train_examples)
    size = len(task.train_examples)

    def data_pass(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(size, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), index])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    positions = tf.data.Dataset.counter().flat_map(data_pass)
    if task.preprocessor.dynamic_padding:
        lengths = tf.constant(token_lengths(task, task.train_examples))
        boundaries = _length_buckets(task.preprocessor.sequence_length)
        batches = positions.bucket_by_sequence_length(
            lambda position: tf.gather(lengths, position),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[global_batch_size] * (len(boundaries) + 1),
            no_padding=True,
            drop_remainder=True,
        )
    else:
        batches = positions.batch(global_batch_size, drop_remainder=True)
    # Batches of example positions are skipped before they are tokenized: cheaply.
    batches = batches.skip(start_step)
    return _finish(
        batches.map(lambda rows: task.preprocess(*_gather(columns, rows)), tf.data.AUTOTUNE),
        global_batch_size,
    )


def teacher_labelled_batches(task, global_batch_size, seed, start_step=0):
    """The stream of features batches of unlabelled examples, each with the teacher's logits.

    The examples are sorted by token length and cut into full batches once
    (little padding, as dynamic padding gives); the teacher labels those
    batches once, and `distillation.cache_teacher_logits` keeps its logits
    on disk (`Teacher.logits_cache_dir`), so no epoch runs the teacher. Each
    pass visits the cached batches in a new order, the same on every run
    of the same `seed`.

    Args:
        task: a `trainers.tasks` task with a `teacher`; its `transfer_features`
            give the features of its `train_examples`, whose labels, if any,
            are not used.
        global_batch_size: int, examples per step across all replicas.
        seed: int, the shuffling seed.
        start_step: int, batches to skip: the optimizer steps already taken.
    """
    features = task.transfer_features()
    size = len(task.train_examples)
    lengths = []
    for mask in tf.data.Dataset.range(size).batch(1024).map(
        lambda rows: features(rows)["padding_mask"]
    ):
        lengths.extend(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1).numpy().tolist())
    order = sorted(range(size), key=lengths.__getitem__)
    batches = _finish(
        tf.data.Dataset.from_tensor_slices(tf.constant(order, tf.int64))
        .batch(global_batch_size, drop_remainder=True)
        .map(features),
        global_batch_size,
    )
    cache_dir = task.teacher.logits_cache_dir(task.settings.model_dir)
    cached = cache_teacher_logits(task.teacher.model, batches, cache_dir)
    # A fixed seed makes the sequence of per-pass orders the same on every run.
    stream = cached.shuffle(size // global_batch_size, seed=seed).repeat()
    return _finish(stream.skip(start_step), global_batch_size)


def evaluation_batches(task, global_batch_size):
    """Every evaluation example once, as `(features, label_ids, weights)` batches.

    `weights` has the shape of `label_ids`. The last batch is filled up with
    copies of the first example whose weight is 0, so every batch is full and
    every metric counts each real example exactly once. Every real example
    weighs `padded_size / size` (batches x batch size over the number of
    examples), not 1: the weighted metrics are the same, and the evaluation
    loss, which each batch sums over its weighted examples and divides by the
    batch size (Keras' losses, `"sum_over_batch_size"`) and which the loops
    average over batches (Keras' loss tracker), is the mean over the real
    examples rather than over the padded ones.
    """
    columns = task.columns(task.eval_examples)
    size = len(task.eval_examples)
    padded_size = evaluation_steps(task, global_batch_size) * global_batch_size
    padding = padded_size - size
    positions = list(range(size))
    if task.preprocessor.dynamic_padding:
        # Scores do not depend on the order; examples of similar length share batches.
        positions.sort(key=token_lengths(task, task.eval_examples).__getitem__)
    positions_and_weights = tf.data.Dataset.from_tensor_slices(
        (positions + [0] * padding, [padded_size / size] * size + [0.0] * padding)
    )

    def weighted(rows, weights):
        features, labels = task.preprocess(*_gather(columns, rows))
        # One weight per label (per example, or per piece tag for NER): the
        # shape Keras's losses and metrics need next to masked labels.
        weights = tf.reshape(weights, [-1] + [1] * (labels.shape.rank - 1))
        return features, labels, weights * tf.ones_like(labels, tf.float32)

    return _finish(
        positions_and_weights.batch(global_batch_size).map(weighted, tf.data.AUTOTUNE),
        global_batch_size,
    )


def evaluation_steps(task, global_batch_size):
    """The number of batches `evaluation_batches` yields."""
    return -(-len(task.eval_examples) // global_batch_size)


def token_lengths(task, examples):
    """The number of tokens the task's preprocessor makes of each example: a list of ints."""
    batches = tf.data.Dataset.from_tensor_slices(task.columns(examples)).batch(1024)
    lengths = []
    for columns in batches.map(task.preprocess):
        mask = tf.cast(columns[0]["padding_mask"], tf.int32)
        lengths.extend(tf.reduce_sum(mask, axis=1).numpy().tolist())
    return lengths


def _length_buckets(sequence_length):
    """Upper bounds of the token-length buckets of dynamic padding: every 8 tokens."""
    return list(range(8, sequence_length, 8))


def _gather(columns, rows):
    return tuple(tf.gather(column, rows) for column in columns)


def _finish(dataset, global_batch_size):
    """Static batch dimensions, no booleans, sharding by data, prefetching."""

    def fixed(tensor):
        # Tokenizers lose the batch dimension's static size; put it back.
        tensor = tf.ensure_shape(tensor, [global_batch_size, *tensor.shape[1:]])
        # Keras 3's fit under a multi-replica strategy averages the first
        # batch across replicas to build the model, which fails on booleans;
        # the models cast their inputs back to the declared dtype.
        return tf.cast(tensor, tf.int32) if tensor.dtype == tf.bool else tensor

    def static_batch(*batch):
        # A batch of features alone (unlabelled examples) stays a dict.
        return tf.nest.map_structure(fixed, batch if len(batch) > 1 else batch[0])

    options = tf.data.Options()
    # Every worker holds the same examples and keeps its share of each batch;
    # there are no files to shard.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.map(static_batch).with_options(options).prefetch(tf.data.AUTOTUNE)
