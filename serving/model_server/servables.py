"""One version of a model, loaded from a SavedModel: TF Serving's SavedModelBundle.

A `Servable` loads a SavedModel the way TensorFlow Serving does, whatever
wrote it: the MetaGraph whose tags are exactly `--saved_model_tags` is
imported into a graph of its own, run by a `tf.compat.v1.Session` (variables
restored, init and main ops run, assets in place), and a signature is run by
feeding its input tensors by name and fetching its output tensors by name.

Why one path for TF1 and TF2 SavedModels, rather than `tf.saved_model.load`
for the TF2 ones: TF Serving itself has one path (C++ `LoadSavedModel` into a
Session), and what it serves follows from that:
- TF1 graphs load whatever their signatures look like (a TF2 loader prunes
  and re-traces them, and rejects some that parse `tf.Example`s);
- a signature is fed any shape the graph accepts: the SignatureDef's shapes are
  documentation, not a check, so `{"instances": [1.0, 2.0, 5.0]}` reaches a
  `[-1, 1]` input of half_plus_two and a model error is INVALID_ARGUMENT;
- one Session run can fetch the outputs of several signatures
  (MultiInference), and TF2 SavedModels carry the same MetaGraph (placeholders
  feeding a `StatefulPartitionedCall`) that TF Serving runs.
Runs go through Session callables made once per (feeds, fetches): they skip
the Python client's shape check, as the C++ Session does, and cost tens of
microseconds. A run of one example (every input's first dimension 1 or none)
that starts while the version runs nothing else executes its ops in the
calling thread (`RunOptions.inter_op_thread_pool = -1`) rather than handing
each to the inter-op pool: a lone request has no parallelism to gain from the
pool and pays its thread hand-offs (about 0.1 ms of a one-client gRPC request
in `benchmarks/serving.py`); concurrent runs and batches keep the pool.

What a request is checked against is what TF Serving's predict_util checks:
the input aliases (`check_input_aliases`, with the SignatureDef's `defaults`
filling missing ones) and, as the Session would refuse a mismatched feed,
dtypes (`check_input_dtypes`); and, as TensorFlow's Python feed of a string
array of more than `MAX_STRING_RANK` dimensions crashes the process, the rank
of string inputs.

TensorFlow Text's ops (the WordPiece tokenizers keras_simpletf exports use)
are registered, as TensorFlow Serving's binary links them since 2.12.

Load failures carry the codes of TensorFlow's C++ SavedModel loader: NOT_FOUND
for a missing `saved_model.pb` or MetaGraph with the tags, DATA_LOSS for a file
that does not parse.
"""

import dataclasses
import os
import threading

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers TF Text's ops, which TF Serving's binary links too)
from google.protobuf import message, text_format
from tensorflow.core.protobuf import config_pb2, saved_model_pb2

from serving.model_server import errors
from serving.model_server.tensor_protos import tensor_dtype

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
# Entries of a SavedModel's signature map that hold ops to run at load or
# training time, not signatures to serve.
_NOT_SERVED = ("__saved_model_init_op", "__saved_model_train_op")
# Callables held per servable; beyond this the oldest is dropped (clients
# choose the output filters, and so how many distinct fetch lists there are).
_MAX_CALLABLES = 256
# The most dimensions of a string input: the Session's Python feed overruns
# numpy 1's 32-dimension limit converting a string array of more (a segfault).
MAX_STRING_RANK = 32


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How every version is loaded: TF Serving's SessionBundleConfig, as its flags set it.

    Args:
        tags: the MetaGraph's tags (`--saved_model_tags`).
        session_config: the `tf.compat.v1.ConfigProto` of each version's Session.
    """

    tags: tuple = (SERVE_TAG,)
    session_config: config_pb2.ConfigProto = None


def _read_saved_model(path):
    binary = os.path.join(path, "saved_model.pb")
    text = os.path.join(path, "saved_model.pbtxt")
    saved_model = saved_model_pb2.SavedModel()
    if tf.io.gfile.exists(binary):
        try:
            with tf.io.gfile.GFile(binary, "rb") as file:
                saved_model.ParseFromString(file.read())
        except message.DecodeError as error:
            raise errors.data_loss(f"Can't parse {binary} as binary proto: {error}") from error
    elif tf.io.gfile.exists(text):
        try:
            with tf.io.gfile.GFile(text, "rb") as file:
                text_format.Parse(file.read().decode("utf-8"), saved_model)
        except (UnicodeDecodeError, text_format.ParseError) as error:
            raise errors.data_loss(f"Can't parse {text} as text proto: {error}") from error
    else:
        raise errors.not_found(
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}"
        )
    return saved_model


def read_signature_defs(path, tags=(SERVE_TAG,)):
    """The SignatureDefs of the MetaGraph at `path` whose tags are exactly `tags`."""
    for meta_graph in _read_saved_model(path).meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    raise errors.not_found(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(sorted(tags))} }} "
        f"in {path}"
    )


def _describe(inputs):
    return ", ".join(
        f"{name}: {tensor_dtype(array).name}{list(array.shape)}"
        for name, array in sorted(inputs.items())
    )


def check_input_aliases(signature_def, inputs):
    """Raises INVALID_ARGUMENT unless `inputs` (a dict keyed by alias) name the signature's inputs.

    The checks and their messages are those of TF Serving's predict_util
    (VerifyRequestInputsSize) and SavedModel's GetInputValues: no more inputs
    than the signature has, no fewer unless it has defaults, none it does not
    name.
    """
    expected = set(signature_def.inputs)
    sent = set(inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not signature_def.defaults):
        raise errors.invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )
    for alias in sorted(expected - sent):
        if alias not in signature_def.defaults:
            raise errors.invalid_argument(
                f"Signature input alias: {alias}(feed name: {signature_def.inputs[alias].name}) "
                f"not found in request and no default value provided. Inputs expected to be in "
                f"the request {{{','.join(sorted(sent))}}}, or default input alias set: "
                f"{','.join(sorted(signature_def.defaults))}"
            )
    if sent - expected:
        raise errors.invalid_argument(
            f"Inputs contains invalid name. Used request inputs: "
            f"{','.join(sorted(sent & expected))}, request input: {','.join(sorted(sent))}"
        )


def check_input_dtypes(signature_name, signature_def, inputs):
    """Raises INVALID_ARGUMENT unless each input has the dtype its signature declares.

    In TF Serving the Session run refuses a feed of another dtype, after every
    check of the request. Shapes are not checked, the model decides what it
    accepts, but for the rank of a string input: at most `MAX_STRING_RANK`.

    Args:
        signature_name: the signature's key, for messages.
        signature_def: its `SignatureDef`.
        inputs: dict of input alias to numpy array, past `check_input_aliases`.
    """
    for alias, array in sorted(inputs.items()):
        expected_dtype = tf.as_dtype(signature_def.inputs[alias].dtype)
        if tensor_dtype(array) != expected_dtype:
            raise errors.invalid_argument(
                f'input tensor "{alias}" of signature "{signature_name}" has dtype '
                f"{tensor_dtype(array).name} but the signature expects {expected_dtype.name}"
            )
        if expected_dtype == tf.string and array.ndim > MAX_STRING_RANK:
            raise errors.invalid_argument(
                f'input tensor "{alias}" of signature "{signature_name}" has {array.ndim} '
                f"dimensions; a string tensor may have at most {MAX_STRING_RANK}"
            )


class Servable:
    """A loaded SavedModel version: its SignatureDefs and the Session that runs them.

    Args:
        name: the model's name.
        version: the version number (the directory's name under the base path).
        path: the version's directory.
        options: `LoadOptions`; the defaults load the `serve` MetaGraph.
    """

    def __init__(self, name, version, path, options=LoadOptions()):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path, options.tags)
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=options.session_config)
        try:
            with graph.as_default():
                tf.compat.v1.saved_model.loader.load(session, list(options.tags), path)
        except tf.errors.OpError:
            session.close()
            raise  # TensorFlow's own code says what went wrong
        except Exception as error:
            session.close()
            raise errors.unknown(f"Failed to load SavedModel at {path}: {error}") from error
        self._session = session
        self._callables = {}
        self._callables_lock = threading.Lock()
        self._runs_in_flight = 0
        self._runs_lock = threading.Lock()

    def signature_def(self, signature_name):
        """The SignatureDef of a servable signature, or None if there is none of that name.

        (`signature_defs` also lists the init op entry of TF2 SavedModels, as
        TF Serving's metadata does; it is no signature to run.)
        """
        if signature_name in _NOT_SERVED:
            return None
        return self.signature_defs.get(signature_name)

    def _callable(self, feeds, fetches, in_caller_thread):
        key = (feeds, fetches, in_caller_thread)
        runner = self._callables.get(key)
        if runner is None:
            with self._callables_lock:
                runner = self._callables.get(key)
                if runner is None:
                    if len(self._callables) >= _MAX_CALLABLES:
                        self._callables.pop(next(iter(self._callables)))
                    # The private maker: `Session.make_callable` feeds through
                    # `Session.run`, whose Python shape check the C++ Session
                    # (and so TF Serving) does not have.
                    options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
                    if in_caller_thread:
                        options.run_options.inter_op_thread_pool = -1
                    runner = self._session._make_callable_from_options(options)
                    self._callables[key] = runner
        return runner

    def run_tensors(self, feeds, fetches):
        """One Session run: `feeds` maps tensor names to arrays; returns the fetched arrays in order.

        A TensorFlow error keeps its code (INVALID_ARGUMENT for a model that
        rejects its inputs); a value the Session cannot convert is
        INVALID_ARGUMENT. So is an error whose message is not UTF-8 (one that
        quotes the input's bytes, as ParseExample does): TensorFlow's Python
        binding loses its code, and its message keeps U+FFFD for those bytes.
        """
        names = tuple(sorted(feeds))
        unique_fetches = tuple(sorted(set(fetches)))
        one_example = all(np.ndim(value) == 0 or len(value) == 1 for value in feeds.values())
        with self._runs_lock:
            alone = self._runs_in_flight == 0
            self._runs_in_flight += 1
        try:
            runner = self._callable(names, unique_fetches, one_example and alone)
            values = runner(*(feeds[name] for name in names))
        except tf.errors.InternalError as error:
            # Raised for feed values of no TensorFlow type (a number among strings).
            raise errors.invalid_argument(error.message) from error
        except UnicodeDecodeError as error:
            # `error.object` is the whole message the Session's status carried.
            message = error.object.decode("utf-8", errors="replace")
            raise tf.errors.InvalidArgumentError(None, None, message) from error
        finally:
            with self._runs_lock:
                self._runs_in_flight -= 1
        by_name = dict(zip(unique_fetches, values))
        return [np.asarray(by_name[name]) for name in fetches]

    def run(self, signature_name, inputs, output_aliases=()):
        """Runs a signature on checked inputs and returns its outputs as numpy arrays.

        Args:
            signature_name: a key of `signature_defs`.
            inputs: dict of input alias to numpy array, as `check_input_aliases`
                and `check_input_dtypes` accept.
            output_aliases: the outputs to fetch; empty fetches them all.
        """
        signature = self.signature_defs[signature_name]
        feeds = {signature.inputs[alias].name: array for alias, array in inputs.items()}
        for alias, default in signature.defaults.items():
            if alias not in inputs:
                feeds[signature.inputs[alias].name] = tf.make_ndarray(default)
        aliases = list(output_aliases or signature.outputs)
        try:
            values = self.run_tensors(feeds, [signature.outputs[alias].name for alias in aliases])
        except tf.errors.InvalidArgumentError as error:
            raise errors.invalid_argument(
                f'signature "{signature_name}" failed on inputs {_describe(inputs)}: {error.message}'
            ) from error
        return dict(zip(aliases, values))
