"""The PredictionService methods, independent of gRPC and REST.

What TF Serving's predict_util, classifier, regressor, multi_inference and
get_model_metadata_impl do, over a `Servable` the caller has acquired from the
`VersionManager`. The transports decode their requests into numpy arrays or
`tensorflow.serving.Input` protos, call these, and encode the results.

Signature lookup fails as in TF Serving, which differs by API: an unknown
signature is FAILED_PRECONDITION for Predict (`Serving signature key "..." not
found.`) and INVALID_ARGUMENT for Classify, Regress and MultiInference.
Signatures are told apart by their inputs and outputs, not their method name:
Classify needs one input `inputs` and outputs `classes` and/or `scores`,
Regress one input `inputs` and one output `outputs`, whatever the method, so
TF2 signatures (whose method is always predict) classify and regress. With
`--enable_signature_method_name_check` the method name must match the API too.
MultiInference feeds the same examples to every task's input tensor and
fetches all their outputs in one Session run (TF Serving's
PerformOneShotTensorComputation over a set of input tensor names), through
the batcher when batching is on, as TF Serving's BatchingSession batches any
Session run.
"""

import time

import numpy as np
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    model_pb2,
    regression_pb2,
)

from serving.model_server import errors
from serving.model_server.servables import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    REGRESS_METHOD,
    check_input_aliases,
    check_input_dtypes,
)
from serving.model_server.tensor_protos import tensor_dtype

SIGNATURE_DEF_FIELD = "signature_def"
_EXAMPLES_INPUT = "inputs"
_CLASSES, _SCORES = "classes", "scores"
_REGRESSION_OUTPUT = "outputs"


def model_spec(servable, signature_name=None):
    """The ModelSpec of a response: model name, version and (if given) resolved signature name."""
    spec = model_pb2.ModelSpec(name=servable.name)
    spec.version.value = servable.version
    if signature_name is not None:
        spec.signature_name = signature_name or DEFAULT_SIGNATURE
    return spec


def serialized_examples(input_proto):
    """The serialized tf.Examples of a `tensorflow.serving.Input`, each merged over its context."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = [example.SerializeToString() for example in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        examples = [context + example.SerializeToString() for example in with_context.examples]
    else:
        examples = []
    if not examples:
        raise errors.invalid_argument("Input is empty.")
    return np.array(examples, dtype=object)


def _shown(signature):
    """The signature as TF Serving's messages show it (protobuf DebugString())."""
    return text_format.MessageToString(signature)


def classification_outputs(signature):
    """The output aliases of a classify signature, checked as TF Serving's PreProcessClassification."""
    if len(signature.inputs) != 1:
        raise errors.invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise errors.invalid_argument(
            f"Expected one or two output Tensors, found {len(signature.outputs)}"
        )
    if _EXAMPLES_INPUT not in signature.inputs:
        raise errors.invalid_argument(
            f"No classification inputs found in SignatureDef: {_shown(signature)}"
        )
    outputs = [alias for alias in (_CLASSES, _SCORES) if alias in signature.outputs]
    if not outputs:
        raise errors.invalid_argument(
            "Expected classification signature outputs to contain at least one of "
            f'"{_CLASSES}" or "{_SCORES}". Signature was: {_shown(signature)}'
        )
    return outputs


def regression_outputs(signature):
    """The output alias of a regress signature, checked as TF Serving's PreProcessRegression."""
    if len(signature.inputs) != 1:
        raise errors.invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise errors.invalid_argument("Expected one output Tensor.")
    if _EXAMPLES_INPUT not in signature.inputs:
        raise errors.invalid_argument(
            f"No regression inputs found in SignatureDef: {_shown(signature)}"
        )
    if _REGRESSION_OUTPUT not in signature.outputs:
        raise errors.invalid_argument(
            f"No regression outputs found in SignatureDef: {_shown(signature)}"
        )
    return [_REGRESSION_OUTPUT]


_EXAMPLE_APIS = {
    CLASSIFY_METHOD: ("classification", classification_outputs),
    REGRESS_METHOD: ("regression", regression_outputs),
}


class Inference:
    """Runs Predict, Classify, Regress, MultiInference and GetModelMetadata on servables.

    Args:
        metrics: the server's `Metrics`, which get the model run times.
        batcher: a `Batcher` to run every signature through, or None.
        signature_method_name_check: require each API's method name of the
            signature it runs (`--enable_signature_method_name_check`).
    """

    def __init__(self, metrics, batcher=None, signature_method_name_check=False):
        self._metrics = metrics
        self._batcher = batcher
        self._method_name_check = signature_method_name_check

    def _run(self, servable, api, signature_name, inputs, deadline, output_aliases=()):
        start = time.monotonic()
        if self._batcher is None:
            outputs = servable.run(signature_name, inputs, output_aliases)
        else:
            outputs = self._batcher.run(servable, signature_name, inputs, deadline)
            if output_aliases:
                outputs = {alias: outputs[alias] for alias in output_aliases}
        self._metrics.record_runtime(servable.name, api, time.monotonic() - start)
        return outputs

    def predict(self, servable, signature_name, inputs, output_filter=(), deadline=None):
        """Runs a signature: returns (response ModelSpec, dict of output alias to numpy array).

        The request is checked in TF Serving's order (predict_util.cc RunPredict
        and PreProcessPrediction): the signature, its method name, the input
        aliases, the output filter, and last the input dtypes, which TF
        Serving's Session run checks.

        Args:
            servable: the acquired `Servable`.
            signature_name: the signature; empty means `serving_default`.
            inputs: dict of input alias to numpy array.
            output_filter: the output aliases to return; empty means all.
            deadline: `time.monotonic()` time after which the caller gives up, or None.
        """
        name = signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_def(name)
        if signature is None:
            raise errors.failed_precondition(f'Serving signature key "{name}" not found.')
        if self._method_name_check and signature.method_name not in (
            PREDICT_METHOD,
            CLASSIFY_METHOD,
            REGRESS_METHOD,
        ):
            raise errors.internal(
                f"Expected prediction signature method_name to be one of {{{PREDICT_METHOD}, "
                f"{CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: {signature.method_name}"
            )
        check_input_aliases(signature, inputs)
        seen = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        check_input_dtypes(name, signature, inputs)
        outputs = self._run(servable, "Predict", name, inputs, deadline, tuple(output_filter))
        return model_spec(servable, name), outputs

    def _examples_signature(self, servable, signature_name, method):
        """(name, SignatureDef, output aliases) of a Classify or Regress signature."""
        kind, outputs_of = _EXAMPLE_APIS[method]
        name = signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_def(name)
        if signature is None:
            raise errors.invalid_argument(f"No signature was found with the name: {name}")
        if self._method_name_check and signature.method_name != method:
            raise errors.invalid_argument(
                f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
            )
        return name, signature, outputs_of(signature)

    def classify(self, servable, signature_name, input_proto, deadline=None):
        """Classifies tf.Examples: returns (response ModelSpec, ClassificationResult)."""
        name, _, aliases = self._examples_signature(servable, signature_name, CLASSIFY_METHOD)
        examples = serialized_examples(input_proto)
        outputs = self._run(
            servable, "Classify", name, {_EXAMPLES_INPUT: examples}, deadline, tuple(aliases)
        )
        return model_spec(servable, name), classification_result(outputs, len(examples))

    def regress(self, servable, signature_name, input_proto, deadline=None):
        """Regresses tf.Examples: returns (response ModelSpec, RegressionResult)."""
        name, _, aliases = self._examples_signature(servable, signature_name, REGRESS_METHOD)
        examples = serialized_examples(input_proto)
        outputs = self._run(
            servable, "Regress", name, {_EXAMPLES_INPUT: examples}, deadline, tuple(aliases)
        )
        result = regression_result(outputs[_REGRESSION_OUTPUT], len(examples))
        return model_spec(servable, name), result

    def multi_inference(self, servable, request, deadline=None):
        """Runs Classify/Regress tasks of one model on the same examples, in one Session run.

        The caller acquires `servable` for the first task's ModelSpec, as TF
        Serving does, so the request has at least one task. The examples feed
        every task's input tensor (one tensor for a TF1 graph whose signatures
        share it, one per signature in a TF2 SavedModel).
        """
        seen = set()
        tasks = []
        for task in request.tasks:
            if not task.model_spec.name:
                raise errors.invalid_argument("Found ModelSpec with an empty model name.")
            if task.model_spec.name != servable.name:
                raise errors.invalid_argument(
                    "All ModelSpecs in a MultiInferenceRequest must access the same model name."
                )
            name = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if name in seen:
                raise errors.invalid_argument(f"Duplicate evaluation of signature: {name}")
            seen.add(name)
            signature = servable.signature_def(name)
            if signature is None:
                raise errors.invalid_argument(
                    f"Requested signature not found in model graph: {name}"
                )
            if task.method_name not in _EXAMPLE_APIS:
                raise errors.unimplemented(f"Unsupported signature method_name: {task.method_name}")
            kind, outputs_of = _EXAMPLE_APIS[task.method_name]
            if self._method_name_check and signature.method_name != task.method_name:
                raise errors.invalid_argument(
                    f"Expected {kind} signature method_name to be {task.method_name}. "
                    f"Was: {signature.method_name}"
                )
            tasks.append((task, signature, outputs_of(signature)))
        examples = serialized_examples(request.input)
        feeds = {signature.inputs[_EXAMPLES_INPUT].name: examples for _, signature, _ in tasks}
        fetches = sorted(
            {signature.outputs[alias].name for _, signature, aliases in tasks for alias in aliases}
        )
        start = time.monotonic()
        if self._batcher is None:
            values = servable.run_tensors(feeds, fetches)
        else:
            values = self._batcher.run_tensors(servable, feeds, fetches, deadline)
        values = dict(zip(fetches, values))
        self._metrics.record_runtime(servable.name, "MultiInference", time.monotonic() - start)
        response = inference_pb2.MultiInferenceResponse()
        for task, signature, aliases in tasks:
            outputs = {alias: values[signature.outputs[alias].name] for alias in aliases}
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                result.classification_result.CopyFrom(classification_result(outputs, len(examples)))
            else:
                result.regression_result.CopyFrom(
                    regression_result(outputs[_REGRESSION_OUTPUT], len(examples))
                )
            result.model_spec.CopyFrom(model_spec(servable, task.model_spec.signature_name))
        return response

    def metadata(self, servable, metadata_fields):
        """The GetModelMetadataResponse: the SignatureDefs of the servable, packed in an Any.

        `metadata_fields` are checked (`check_metadata_fields`) before the
        servable is acquired, as TF Serving checks them.
        """
        check_metadata_fields(metadata_fields)
        response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(servable))
        signature_defs = get_model_metadata_pb2.SignatureDefMap(
            signature_def=servable.signature_defs
        )
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_defs)
        return response


def check_metadata_fields(metadata_fields):
    """Raises INVALID_ARGUMENT unless `metadata_fields` are `signature_def` only.

    TF Serving's ValidateGetModelMetadataRequest (get_model_metadata_impl.cc),
    which runs before the servable is looked up.
    """
    if not metadata_fields:
        raise errors.invalid_argument(
            "GetModelMetadataRequest must specify at least one metadata_field"
        )
    for field in metadata_fields:
        if field != SIGNATURE_DEF_FIELD:
            raise errors.invalid_argument(f"Metadata field {field} is not supported")


def _dtype_name(array):
    """The DataType_Name() of the array's TensorFlow dtype: DT_DOUBLE."""
    return types_pb2.DataType.Name(tensor_dtype(array).as_datatype_enum)


def _check_batch_output(name, array, dtype, dtype_name, num_examples):
    if array.ndim != 2:
        raise errors.invalid_argument(
            "Expected Tensor shape: [batch_size num_classes] but got "
            f"{errors.shape_text(array.shape)}"
        )
    if array.dtype != dtype:
        raise errors.invalid_argument(
            f"Expected {name} Tensor of {dtype_name}. Got: {_dtype_name(array)}"
        )
    if array.shape[0] != num_examples:
        raise errors.invalid_argument(
            f"Expected {name} output batch size of {num_examples}. Got: {array.shape[0]}"
        )


def classification_result(outputs, num_examples):
    """The ClassificationResult of the `classes` and/or `scores` outputs of a classify signature."""
    classes = outputs.get(_CLASSES)
    scores = outputs.get(_SCORES)
    if classes is not None:
        _check_batch_output("classes", classes, object, "DT_STRING", num_examples)
    if scores is not None:
        _check_batch_output("scores", scores, np.float32, "DT_FLOAT", num_examples)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise errors.invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    num_classes = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for example in range(num_examples):
        classifications = result.classifications.add()
        for index in range(num_classes):
            cls = classifications.classes.add()
            if classes is not None:
                cls.label = classes[example, index].decode("utf-8", errors="replace")
            if scores is not None:
                cls.score = scores[example, index]
    return result


def regression_result(values, num_examples):
    """The RegressionResult of the `outputs` tensor of a regress signature."""
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise errors.invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{errors.shape_text(values.shape)}"
        )
    if values.shape[0] != num_examples:
        raise errors.invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {values.shape[0]}"
        )
    if values.dtype != np.float32:
        raise errors.invalid_argument(
            f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(values)}"
        )
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1):
        result.regressions.add(value=value)
    return result
