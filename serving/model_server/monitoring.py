"""Request metrics, and the Prometheus page `--monitoring_config_file` exposes on the REST port.

The metrics are TF Serving's, under its Prometheus names (the TensorFlow metric
name with every `/` turned into `:`), in the text format of its
PrometheusExporter:
- `:tensorflow:serving:request_count{model_name,status}`: counter of requests,
  `status` being the canonical code name (`OK`, `INVALID_ARGUMENT`, ...).
- `:tensorflow:serving:request_latency{model_name,API,entrypoint}`: histogram of
  request wall time in microseconds; `entrypoint` is `GRPC` or `REST`.
- `:tensorflow:serving:runtime_latency{model_name,API,runtime}`: histogram of
  the time spent running the model, in microseconds.
Histogram buckets are TF Serving's: 33 exponential buckets from 10 µs, ×1.8.
"""

import threading

_LATENCY_BUCKET_LIMITS = [10 * 1.8**i for i in range(32)]


def _labels(names, values):
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return ",".join(f'{name}="{value}"' for name, value in zip(names, escaped))


class _Counter:
    def __init__(self, name, label_names):
        self.name = name
        self.label_names = label_names
        self.points = {}  # label values -> count

    def add(self, label_values, amount=1):
        self.points[label_values] = self.points.get(label_values, 0) + amount

    def lines(self):
        yield f"# TYPE {self.name} counter"
        for label_values, value in sorted(self.points.items()):
            yield f"{self.name}{{{_labels(self.label_names, label_values)}}} {value}"


class _Histogram:
    def __init__(self, name, label_names):
        self.name = name
        self.label_names = label_names
        self.points = {}  # label values -> (bucket counts, sum)

    def add(self, label_values, value):
        counts, total = self.points.get(
            label_values, ([0] * (len(_LATENCY_BUCKET_LIMITS) + 1), 0.0)
        )
        bucket = next(
            (i for i, limit in enumerate(_LATENCY_BUCKET_LIMITS) if value < limit),
            len(_LATENCY_BUCKET_LIMITS),
        )
        counts[bucket] += 1
        self.points[label_values] = (counts, total + value)

    def lines(self):
        yield f"# TYPE {self.name} histogram"
        for label_values, (counts, total) in sorted(self.points.items()):
            labels = _labels(self.label_names, label_values)
            cumulative = 0
            for limit, count in zip(
                [f"{limit:g}" for limit in _LATENCY_BUCKET_LIMITS] + ["+Inf"], counts
            ):
                cumulative += count
                yield f'{self.name}_bucket{{{labels},le="{limit}"}} {cumulative}'
            yield f"{self.name}_sum{{{labels}}} {total:g}"
            yield f"{self.name}_count{{{labels}}} {cumulative}"


class Metrics:
    """The server's metrics, safe to record from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._request_count = _Counter(
            ":tensorflow:serving:request_count", ("model_name", "status")
        )
        self._request_latency = _Histogram(
            ":tensorflow:serving:request_latency", ("model_name", "API", "entrypoint")
        )
        self._runtime_latency = _Histogram(
            ":tensorflow:serving:runtime_latency", ("model_name", "API", "runtime")
        )

    def record_request(self, model_name, api, entrypoint, status, seconds):
        """Counts one request of `api` ("Predict", ...) that ended with `status` (a code name)."""
        with self._lock:
            self._request_count.add((model_name, status))
            self._request_latency.add((model_name, api, entrypoint), seconds * 1e6)

    def record_runtime(self, model_name, api, seconds):
        """Records the time one model run took."""
        with self._lock:
            self._runtime_latency.add((model_name, api, "TF2"), seconds * 1e6)

    def prometheus_page(self):
        """All metrics in the Prometheus text exposition format."""
        with self._lock:
            metrics = (self._request_count, self._request_latency, self._runtime_latency)
            return "".join(
                f"{line}\n" for metric in metrics if metric.points for line in metric.lines()
            )
