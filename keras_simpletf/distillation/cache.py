"""The teacher's logits of a dataset, computed once and kept on disk."""

import hashlib
import os

import numpy as np
import tensorflow as tf

from keras_simpletf.distillation.distiller import TEACHER_LOGITS
from keras_simpletf.models.task import FEATURE_NAMES


def cache_teacher_logits(teacher, dataset, directory):
    """`dataset` with the teacher's logits added to each batch's features.

    The first call runs the teacher (`training=False`) over every batch and
    saves the result with `tf.data.Dataset.save` under `directory/<key>`,
    where the key hashes the teacher's weights and the data's contents; a
    later call with the same teacher and data loads it and runs no teacher.
    So does every epoch over the returned dataset: `TaskDistiller` reads
    `"teacher_logits"` from the features instead of calling the teacher.
    Computing the key reads the data once (no model runs). Batches are
    stored as they come; shuffle the returned dataset's batches with
    `.shuffle(n)`. Labels, if the batches have them, are kept; batches of
    features alone (unlabelled text) are labelled by the teacher's logits.

    Args:
        teacher: the teacher task model.
        dataset: a `tf.data.Dataset` of batches: features (a dict with the
            task models' features) or `(features, labels)`.
        directory: where caches live (any path `tf.io.gfile` writes).

    Returns:
        A `tf.data.Dataset` of the same batches, each features dict with a
        float32 `"teacher_logits"` entry.

    Example:

    ```python
    teacher = TextClassifier(
        TransformerEncoder(vocabulary_size=100, num_layers=1, hidden_dim=16), labels=["no", "yes"])
    unlabelled = tf.data.Dataset.from_tensors({
        "token_ids": tf.ones((4, 6), "int32"),
        "segment_ids": tf.zeros((4, 6), "int32"),
        "padding_mask": tf.ones((4, 6), "bool"),
    })
    cached = cache_teacher_logits(teacher, unlabelled, "teacher_cache")
    next(iter(cached))["teacher_logits"].shape  # (4, 2); the next call loads it
    ```
    """
    path = os.path.join(directory, _cache_key(teacher, dataset))
    if not tf.io.gfile.exists(path):
        partial = path + ".partial"
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)
        _with_teacher_logits(teacher, dataset).save(partial)
        tf.io.gfile.rename(partial, path)
    return tf.data.Dataset.load(path)


def _with_teacher_logits(teacher, dataset):
    labelled = isinstance(dataset.element_spec, tuple)
    features_spec = dataset.element_spec[0] if labelled else dataset.element_spec
    logits_spec = tf.TensorSpec((None, *teacher.output.shape[1:]), tf.float32)
    features_spec = {**features_spec, TEACHER_LOGITS: logits_spec}
    signature = (features_spec, *dataset.element_spec[1:]) if labelled else features_spec

    def batches():
        for element in dataset:
            features, rest = (element[0], element[1:]) if labelled else (element, ())
            logits = teacher.predict_on_batch({name: features[name] for name in FEATURE_NAMES})
            # Under a multi-replica strategy Keras 3 stacks every replica's copy of the batch.
            rows = len(features["token_ids"])
            features = {**features, TEACHER_LOGITS: np.asarray(logits[:rows], "float32")}
            yield (features, *rest) if labelled else features

    return tf.data.Dataset.from_generator(batches, output_signature=signature)


def _cache_key(teacher, dataset):
    digest = hashlib.sha256()
    for weight in teacher.weights:
        digest.update(np.asarray(weight.numpy()).tobytes())
    for element in dataset:
        for tensor in tf.nest.flatten(element):
            value = tensor.numpy()
            digest.update(str(value.shape).encode())
            digest.update(value.tobytes())
    return digest.hexdigest()[:32]
