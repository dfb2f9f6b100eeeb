"""Request metrics, and the Prometheus page `--monitoring_config_file` exposes on the REST port.

The metrics are TF Serving's, under its Prometheus names (the TensorFlow metric
name with every `/` turned into `:`):
- `:tensorflow:serving:request_count{model_name,status}`: counter of requests,
  `status` being the canonical code name (`OK`, `INVALID_ARGUMENT`, ...).
- `:tensorflow:serving:request_latency{model_name,API,entrypoint}`: histogram of
  request wall time in microseconds; `entrypoint` is `GRPC` or `REST`.
- `:tensorflow:serving:runtime_latency{model_name,API,runtime}`: histogram of
  the time spent running the model, in microseconds.
Histogram buckets are TF Serving's: 33 exponential buckets from 10 µs, ×1.8.

The counter is written here as TF Serving's prometheus_exporter.cc writes one:
a `# TYPE <name> counter` line, then `<name>{model_name="...",status="..."} N`
per series, under the metric's own name (`prometheus_client` would write
`<name>_total`) with an integer count. The histograms are kept and written by
`prometheus_client`, which, unlike TF Serving, adds `# HELP` lines, sorts label
names and writes values as Python floats (`le="32.400000000000006"`, `1.0`).
Backslashes, double quotes and newlines in label values are escaped in both.

Only models of the current config are recorded, as in TF Serving (which
records a request once its servable is found): model names come from clients,
and every other name would be a new series.
"""

import collections
import threading

import prometheus_client

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
_LATENCY_BUCKET_LIMITS = [10 * 1.8**i for i in range(32)]
_REQUEST_COUNT = ":tensorflow:serving:request_count"


def _label_value(value):
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


class Metrics:
    """The server's metrics, safe to record from any thread.

    Args:
        is_served: tells whether a model name is one of the served models.
    """

    def __init__(self, is_served):
        prometheus_client.disable_created_metrics()  # TF Serving writes no *_created series
        self._is_served = is_served
        self._registry = prometheus_client.CollectorRegistry()
        self._request_counts = collections.Counter()  # {(model_name, status): requests}
        self._request_counts_lock = threading.Lock()
        self._request_latency = prometheus_client.Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint"),
            buckets=_LATENCY_BUCKET_LIMITS,
            registry=self._registry,
        )
        self._runtime_latency = prometheus_client.Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            buckets=_LATENCY_BUCKET_LIMITS,
            registry=self._registry,
        )

    def record_request(self, model_name, api, entrypoint, status, seconds):
        """Counts one request of `api` ("Predict", ...) that ended with `status` (a code name)."""
        if not self._is_served(model_name):
            return
        with self._request_counts_lock:
            self._request_counts[model_name, status] += 1
        self._request_latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def record_runtime(self, model_name, api, seconds):
        """Records the time one model run took."""
        if self._is_served(model_name):
            self._runtime_latency.labels(model_name, api, "TF2").observe(seconds * 1e6)

    def prometheus_page(self):
        """All metrics in the Prometheus text exposition format."""
        with self._request_counts_lock:
            counts = sorted(self._request_counts.items())
        lines = [f"# TYPE {_REQUEST_COUNT} counter"] + [
            f'{_REQUEST_COUNT}{{model_name="{_label_value(model_name)}",'
            f'status="{_label_value(status)}"}} {count}'
            for (model_name, status), count in counts
        ]
        histograms = prometheus_client.generate_latest(self._registry).decode("utf-8")
        return "\n".join(lines) + "\n" + histograms
