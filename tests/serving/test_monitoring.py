"""Request metrics on the Prometheus endpoint (serving/model_server/monitoring.py), as TF Serving names them."""

import re

import numpy as np

from tests.serving.protos import example_input, predict_request


def _counter(page, labels):
    match = re.search(
        rf"^:tensorflow:serving:request_count\{{{re.escape(labels)}\}} (\d+)$", page, re.M
    )
    return int(match.group(1)) if match else 0


def test_requests_are_counted_and_timed_per_model_api_and_status(main_server):
    def page():
        status, text = main_server.rest("GET", "/monitoring/prometheus/metrics")
        assert status == 200
        return text

    before = page()
    main_server.rest(
        "POST",
        "/v1/models/examples:regress",
        {"signature_name": "regress", "examples": [{"x": 1.0}]},
    )
    main_server.rest(
        "POST", "/v1/models/examples:regress", {"signature_name": "regress", "examples": []}
    )
    example = example_input(1.0).example_list.examples[0].SerializeToString()
    main_server.prediction.Predict(
        predict_request("examples", {"inputs": np.array([example], dtype=object)}), timeout=30
    )
    after = page()

    ok, invalid = (
        'model_name="examples",status="OK"',
        'model_name="examples",status="INVALID_ARGUMENT"',
    )
    assert _counter(after, ok) == _counter(before, ok) + 2
    assert _counter(after, invalid) == _counter(before, invalid) + 1
    assert "# TYPE :tensorflow:serving:request_count counter" in after
    assert "# TYPE :tensorflow:serving:request_latency histogram" in after
    assert re.search(
        r'^:tensorflow:serving:request_latency_bucket\{model_name="examples",API="Regress",entrypoint="REST",'
        r'le="\+Inf"\} [1-9]',
        after,
        re.M,
    )
    assert re.search(
        r'^:tensorflow:serving:request_latency_count\{model_name="examples",API="Predict",'
        r'entrypoint="GRPC"\} [1-9]',
        after,
        re.M,
    )
    assert ":tensorflow:serving:runtime_latency_sum" in after
