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
- `write_half_plus_two`: TF Serving's own testdata model, built as its
  generator saved_model_half_plus_two.py builds it: a `tf.compat.v1` graph
  with variables a=0.5, b=2, c=3, a tf.Example parser (features x, and x2
  defaulting to 0), an asset and a main op, saved by `SavedModelBuilder`:
    serving_default (predict) x -> y = a * x + b
    classify_x_to_y  (classify) inputs -> scores = y
    regress_x_to_y   (regress)  inputs -> outputs = y
    regress_x_to_y2  (regress)  inputs -> outputs = a * x + c
    regress_x2_to_y3 (regress)  x2 (float, not examples) -> outputs = a * x2 + c
- `write_tf2_examples_module`: a TF2 `tf.Module` whose signatures all have
  method predict, as `tf.saved_model.save` writes them, over serialized
  tf.Examples with one float feature `x`:
    classify(inputs) -> classes [["neg", "pos"]], scores [[1 - p, p]], p = sigmoid(x)
    regress(inputs)  -> outputs 3 * x - 1
- `write_keras_half_plus_two`: a Keras 3 `Dense(1)` with kernel 0.5 and bias 2
  on inputs of shape [n, 1], exported with `model.export`.
- `write_tflite_half_plus_two`: y = 0.5 x + 2 as a TensorFlow Lite `model.tflite`,
  as TF Serving's generator converts it (from a `tf.compat.v1` session, no
  signature: tensors `x` and `y`, shape [1, 1]) or with a `serving_default`
  signature (x: [-1, 1] -> y).
- `write_broken_model`: a version directory whose saved_model.pb does not parse.
- `write_warmup_requests`: TF Serving's warmup file (a TFRecord of
  PredictionLogs) in a version directory.

Every writer builds the version next to its final place and renames it in,
as a model export should, so a polling server never sees half a version.
"""

import os
import shutil

import numpy as np
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


def write_half_plus_two(base_path, version, tags=("serve",)):
    """Writes TF Serving's half_plus_two under `base_path` with MetaGraph `tags`; returns its directory."""
    v1 = tf.compat.v1
    build = _build_dir(base_path, version)
    builder = v1.saved_model.Builder(build)
    with v1.Session(graph=tf.Graph()) as session:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        features = v1.io.parse_example(
            serialized,
            {
                "x": v1.io.FixedLenFeature([1], tf.float32),
                "x2": v1.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
            },
        )
        x = tf.identity(features["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(features["x2"], name="x2")
        y3 = tf.identity(v1.Variable(0.5, name="a2") * x2 + v1.Variable(3.0, name="c2"), name="y3")
        asset_directory = os.path.join(os.path.dirname(build), f".assets-{version}")
        os.makedirs(asset_directory, exist_ok=True)
        asset = os.path.join(asset_directory, "foo.txt")
        with open(asset, "w") as file:
            file.write("asset-file-contents")
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, tf.constant(asset))
        filename = v1.Variable("foo.txt", name="filename_tensor", trainable=False, collections=[])
        session.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        signature = v1.saved_model.signature_def_utils.build_signature_def
        builder.add_meta_graph_and_variables(
            session,
            list(tags),
            signature_def_map={
                "serving_default": signature(
                    {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict"
                ),
                "classify_x_to_y": signature(
                    {"inputs": info(serialized)}, {"scores": info(y)}, "tensorflow/serving/classify"
                ),
                "regress_x_to_y": signature(
                    {"inputs": info(serialized)}, {"outputs": info(y)}, "tensorflow/serving/regress"
                ),
                "regress_x_to_y2": signature(
                    {"inputs": info(serialized)}, {"outputs": info(y2)}, "tensorflow/serving/regress"
                ),
                "regress_x2_to_y3": signature(
                    {"inputs": info(x2)}, {"outputs": info(y3)}, "tensorflow/serving/regress"
                ),
            },
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(filename.assign("foo.txt")),
        )
    builder.save()
    shutil.rmtree(asset_directory)
    return _move_into_place(build, base_path, version)


def example_x(inputs):
    """The float feature `x` `(batch, 1)` of serialized tf.Examples."""
    return tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]


class _ExamplesModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        p = tf.sigmoid(example_x(inputs))
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(p)[0], 1])
        return {"classes": classes, "scores": tf.concat([1.0 - p, p], axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        return {"outputs": 3.0 * example_x(inputs) - 1.0}

    @tf.function(input_signature=[])
    def constant(self):
        return {"y": tf.constant([1.0])}


def write_tf2_examples_module(base_path, version):
    """Writes the TF2 classify/regress module under `base_path`; returns its directory.

    Its default signature, `constant`, has no inputs.
    """
    module = _ExamplesModule()
    build = _build_dir(base_path, version)
    signatures = {
        "classify": module.classify,
        "regress": module.regress,
        "serving_default": module.constant,
        "constant": module.constant,
    }
    tf.saved_model.save(module, build, signatures=signatures)
    return _move_into_place(build, base_path, version)


def write_keras_half_plus_two(base_path, version):
    """Exports a Keras Dense(1) computing 0.5 * x + 2 under `base_path`; returns its directory."""
    import keras

    inputs = keras.Input((1,), name="x")
    dense = keras.layers.Dense(1, name="y")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    build = _build_dir(base_path, version)
    model.export(build, verbose=False)
    return _move_into_place(build, base_path, version)


class _HalfPlusTwo(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def serving_default(self, x):
        return {"y": 0.5 * x + 2.0}


def write_tflite_half_plus_two(base_path, version, with_signature):
    """Writes `model.tflite` computing 0.5 * x + 2 under `base_path`; returns its directory."""
    if with_signature:
        module = _HalfPlusTwo()
        functions = [module.serving_default.get_concrete_function()]
        model = tf.lite.TFLiteConverter.from_concrete_functions(functions, module).convert()
    else:
        v1 = tf.compat.v1
        with v1.Session(graph=tf.Graph()) as session:
            x = v1.placeholder(tf.float32, [1, 1], name="x")
            y = tf.identity(0.5 * x + 2.0, name="y")
            model = v1.lite.TFLiteConverter.from_session(session, [x], [y]).convert()
    build = _build_dir(base_path, version)
    os.makedirs(build)
    with open(os.path.join(build, "model.tflite"), "wb") as file:
        file.write(model)
    return _move_into_place(build, base_path, version)


def write_broken_model(base_path, version):
    """Writes a version directory whose saved_model.pb is not a SavedModel."""
    build = _build_dir(base_path, version)
    os.makedirs(build)
    with open(os.path.join(build, "saved_model.pb"), "wb") as file:
        file.write(b"\x0a\xff this is not a SavedModel")
    return _move_into_place(build, base_path, version)


def write_warmup_requests(version_dir, *prediction_logs):
    """Writes `assets.extra/tf_serving_warmup_requests` holding `prediction_logs` into `version_dir`."""
    extra = os.path.join(version_dir, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(extra, "tf_serving_warmup_requests")) as writer:
        for log in prediction_logs:
            writer.write(log.SerializeToString())
