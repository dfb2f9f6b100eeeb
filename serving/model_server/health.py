"""The standard gRPC health check service (`grpc.health.v1.Health/Check`), for --enable_grpc_healthcheck_service.

TF Serving turns on gRPC's default health check service, which answers
SERVING for the server as a whole (service "") once it runs and NOT_FOUND for
any service name it was not told about. The grpcio-health-checking package is
not a dependency, so the two messages of `grpc/health/v1/health.proto` are
declared here, in a private descriptor pool; `Watch` is not served
(UNIMPLEMENTED), as Kubernetes and grpc_health_probe only call `Check`.
"""

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "grpc.health.v1.Health"
SERVING = 1

_FieldProto = descriptor_pb2.FieldDescriptorProto


def _declare_messages():
    file = descriptor_pb2.FileDescriptorProto(
        name="keras_simpletf/serving/grpc_health_v1.proto", package="grpc.health.v1"
    )
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(
        name="service", number=1, type=_FieldProto.TYPE_STRING, label=_FieldProto.LABEL_OPTIONAL
    )
    response = file.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=_FieldProto.TYPE_ENUM,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
        label=_FieldProto.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.health.v1.{name}"))
        for name in ("HealthCheckRequest", "HealthCheckResponse")
    )


HealthCheckRequest, HealthCheckResponse = _declare_messages()


def _check(request, context):
    if request.service:
        context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service: {request.service}")
    return HealthCheckResponse(status=SERVING)


def add_health_service(server):
    """Adds `grpc.health.v1.Health/Check` to a `grpc.Server`, or to anything that takes its handlers."""
    handler = grpc.unary_unary_rpc_method_handler(
        _check,
        request_deserializer=HealthCheckRequest.FromString,
        response_serializer=HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Check": handler})]
    )
