"""Small SavedModels for the model-server tests, written in TF Serving's layout `base/<version>/`.

- `write_text_model`: a TF2 `tf.Module` whose signatures report the version
  that answered, so tests can see which version served them:
    serving_default(text: string[n])   -> length: int32[n] (bytes), version: int64[n]
    echo(text: string[n])              -> text_bytes: string[n] (written as b64 by REST)
    scale(x: float32[n, 3])            -> y: x * 2, batch_size: int32[n] (rows of the call),
                                          call_time: float64[n] (one timestamp per call)
    add(a: float32[n], b: float32[n])  -> sum: a + b
    wait(seconds: float32[n])          -> version: int64[n], after busy-waiting max(seconds)
- `write_examples_model`: a TF1 graph saved with `tf.compat.v1.saved_model.Builder`
  whose signatures take serialized tf.Examples with one float feature `x`:
    classify -> classes [["pos", "neg"]], scores softmax([x, -x])
    regress  -> outputs 2 * x + 1
    serving_default (predict) -> scores
- `write_broken_model`: a version directory whose saved_model.pb does not parse.

Every writer builds the version next to its final place and renames it in,
as a model export should, so a polling server never sees half a version.
"""

import os
import shutil

import tensorflow as tf


class _TextModel(tf.Module):
    def __init__(self, version):
        super().__init__()
        self.version = version

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serving_default(self, text):
        rows = tf.shape(text)[0]
        return {
            "length": tf.strings.length(text),
            "version": tf.fill([rows], tf.constant(self.version, tf.int64)),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def echo(self, text):
        return {"text_bytes": tf.identity(text)}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def scale(self, x):
        rows = tf.shape(x)[0]
        return {
            "y": x * 2.0,
            "batch_size": tf.fill([rows], rows),
            "call_time": tf.fill([rows], tf.timestamp()),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="a"),
            tf.TensorSpec([None], tf.float32, name="b"),
        ]
    )
    def add(self, a, b):
        return {"sum": a + b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
    def wait(self, seconds):
        end = tf.timestamp() + tf.cast(tf.reduce_max(seconds), tf.float64)
        tf.while_loop(lambda now: now < end, lambda now: [tf.timestamp()], [tf.timestamp()])
        return {"version": tf.fill([tf.shape(seconds)[0]], tf.constant(self.version, tf.int64))}


def _move_into_place(build_dir, base_path, version):
    os.makedirs(base_path, exist_ok=True)
    final = os.path.join(base_path, str(version))
    os.rename(build_dir, final)
    return final


def _build_dir(base_path, version):
    path = os.path.join(
        os.path.dirname(os.path.abspath(base_path)),
        f".building-{os.path.basename(base_path)}-{version}",
    )
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_text_model(base_path, version):
    """Writes version `version` of the TF2 text model under `base_path`; returns its directory."""
    module = _TextModel(version)
    build = _build_dir(base_path, version)
    signatures = {
        name: getattr(module, name) for name in ("serving_default", "echo", "scale", "add", "wait")
    }
    tf.saved_model.save(module, build, signatures=signatures)
    return _move_into_place(build, base_path, version)


def write_examples_model(base_path, version):
    """Writes version `version` of the TF1 classify/regress model under `base_path`; returns its directory."""
    build = _build_dir(base_path, version)
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        scores = tf.nn.softmax(tf.concat([x, -x], axis=1))
        classes = tf.tile(tf.constant([["pos", "neg"]]), [tf.shape(x)[0], 1])
        builder = tf.compat.v1.saved_model.Builder(build)
        with tf.compat.v1.Session(graph=graph) as session:
            signature_defs = tf.compat.v1.saved_model
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={
                    "classify": signature_defs.classification_signature_def(
                        serialized, classes, scores
                    ),
                    "regress": signature_defs.regression_signature_def(serialized, 2.0 * x + 1.0),
                    "serving_default": signature_defs.predict_signature_def(
                        {"inputs": serialized}, {"scores": scores}
                    ),
                },
            )
        builder.save()
    return _move_into_place(build, base_path, version)


def write_broken_model(base_path, version):
    """Writes a version directory whose saved_model.pb is not a SavedModel."""
    build = _build_dir(base_path, version)
    os.makedirs(build)
    with open(os.path.join(build, "saved_model.pb"), "wb") as file:
        file.write(b"\x0a\xff this is not a SavedModel")
    return _move_into_place(build, base_path, version)
