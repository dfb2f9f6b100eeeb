"""What the job hands to serving: a TF Serving version, the Keras model and its vocabulary.

`--export_dir` is a TensorFlow Serving model base path: each finished job adds
the next version directory, the SavedModel of `serving/export.py` (raw text
in, labels out, the tokenizer inside). Beside the versions, which TF Serving
ignores, lie the latest `model.keras` and `vocabulary.txt` for notebooks.
"""

import os

import tensorflow as tf

from serving import export as serving_export

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocabulary.txt"


def export_trained_model(model, preprocessor, export_dir):
    """Writes the next serving version of `model`, and `model.keras` and `vocabulary.txt`.

    The `.keras` file loads back with `keras.saving.load_model` and no
    `custom_objects`, label names included; the vocabulary file has one
    token per line, in id order, as `ClassificationPreprocessor` and
    `TokenClassificationPreprocessor` read it.

    Args:
        model: the trained task model.
        preprocessor: the preprocessor the model was trained with.
        export_dir: str, the directory to write (any `tf.io.gfile` path).

    Returns:
        `(version_path, model_path, vocabulary_path)`.
    """
    version_path = serving_export.export(model, preprocessor, export_dir)
    model_path = os.path.join(export_dir, MODEL_FILE)
    model.save(model_path)
    return version_path, model_path, write_vocabulary(preprocessor.vocabulary, export_dir)


def write_vocabulary(vocabulary, export_dir):
    """Writes `export_dir/vocabulary.txt`, one token per line in id order; returns its path."""
    vocabulary_path = os.path.join(export_dir, VOCABULARY_FILE)
    with tf.io.gfile.GFile(vocabulary_path, "w") as file:
        file.write("".join(f"{token}\n" for token in vocabulary))
    return vocabulary_path
