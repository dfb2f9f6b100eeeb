"""Request metrics on the Prometheus endpoint (serving/model_server/monitoring.py), as TF Serving writes them.

Only served models are recorded, and what a client puts in a URL cannot add
lines or series to the page.
"""

import re

import numpy as np

from tests.serving.protos import example_input, predict_request


def _counter(page, labels):
    match = re.search(
        rf"^:tensorflow:serving:request_count\{{{re.escape(labels)}\}} (\d+)$", page, re.M
    )
    return int(match.group(1)) if match else 0


def _page(server):
    status, text = server.rest("GET", "/monitoring/prometheus/metrics")
    assert status == 200
    return text


def test_requests_are_counted_and_timed_per_model_api_and_status(main_server):
    def page():
        return _page(main_server)

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
    # As TF Serving's prometheus_exporter.cc SerializeScalar: no `_total`, integer counts.
    assert "# TYPE :tensorflow:serving:request_count counter" in after
    assert "request_count_total" not in after
    assert "# TYPE :tensorflow:serving:request_latency histogram" in after
    assert re.search(
        r'^:tensorflow:serving:request_latency_bucket\{API="Regress",entrypoint="REST",le="\+Inf",'
        r'model_name="examples"\} [1-9]',
        after,
        re.M,
    )
    assert re.search(
        r'^:tensorflow:serving:request_latency_count\{API="Predict",entrypoint="GRPC",'
        r'model_name="examples"\} [1-9]',
        after,
        re.M,
    )
    assert ":tensorflow:serving:runtime_latency_sum" in after


def test_model_names_from_urls_neither_inject_lines_nor_add_series(main_server):
    before = _page(main_server)
    for path in (
        "/v1/models/x%0Afoo%201:predict",
        '/v1/models/x%22%7D%201%0Abar:predict',
        "/v1/models/unknown-model:predict",
    ):
        status, _ = main_server.rest("POST", path, {"instances": ["a"]})
        assert status == 404
    status, _ = main_server.rest("POST", "/v1/models/text:predict", {"instances": ["ok"]})
    assert status == 200
    after = _page(main_server)
    assert not re.search(r"^(foo|bar)", after, re.M)
    assert "unknown-model" not in after and 'model_name="x' not in after
    series = {line.rsplit(" ", 1)[0] for line in after.splitlines() if not line.startswith("#")}
    old_series = {line.rsplit(" ", 1)[0] for line in before.splitlines() if not line.startswith("#")}
    assert {s for s in series - old_series if 'model_name="text"' not in s} == set()
