"""Latency of exported models on raw text, side by side, under one oneDNN setting.

Question answered: at batch 1 and at batch 32, how long does each exported
SavedModel's `serving_default` signature take per call on raw text, under
TensorFlow's default CPU kernels (oneDNN) or with `TF_ENABLE_ONEDNN_OPTS=0`?

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it loads, so a setting
needs a process of its own: `measure_in_subprocess` starts this module with
the setting given. The models are loaded together and timed in turns,
blocks of `--block` calls each (`benchmarks.timing.median_ms_in_turns`),
over the first `--latency_texts` texts in order: one text a call at batch 1,
32 at batch 32. `--runtime` says how a model is loaded and called:
- `served` (the default): as our model server runs a version, its
  transport aside (`serving.model_server.servables.Servable`): a Session
  with the server's default ConfigProto (one intra-op thread fewer than the
  CPUs, no spinning), a lone one-example request run in the calling thread;
- `eager`: the `serving_default` of `tf.saved_model.load`, called from
  Python with TensorFlow's default threads. The Python call adds a fixed
  cost to every model, and on two cores two intra-op threads slow the small
  matrices of batch 1 (BENCHMARKS.md, "Students at batch 1, as served").

On the two-core benchmark machine oneDNN slows batch 1 (a tagger's small
ops pay its per-op cost) and speeds batch 32 (BENCHMARKS.md, "Taggers at
batch 1"): a deployment picks the setting of its traffic, so both are
measured.

Usage (from the repository root):

    TF_ENABLE_ONEDNN_OPTS=0 python -m benchmarks.export_latency --texts=texts.txt \\
        /tmp/models/teacher/1 /tmp/models/student/1
    python -m benchmarks.export_latency --runtime=eager --texts=texts.txt /tmp/models/student/1

The last line printed is a JSON object `{version path: {"1": ms, "32": ms}}`.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys

LATENCY_BATCH = 32


def _eager_serves(version_paths):
    """`{path: serve(inputs)}` through `tf.saved_model.load`, in eager mode.

    `inputs`: `{input name: list of str}`, e.g. `{"text": texts}`.
    """
    import tensorflow as tf

    signatures = {path: tf.saved_model.load(path).signatures["serving_default"] for path in version_paths}
    return {path: lambda inputs, signature=signature: signature(
                **{name: tf.constant(values) for name, values in inputs.items()})
            for path, signature in signatures.items()}


def _served_serves(version_paths):
    """`{path: serve(inputs)}` as our model server runs a version, transport aside.

    `inputs`: `{input name: list of str}`, e.g. `{"text": texts}`.
    """
    import numpy as np

    from serving.model_server import configs, servables

    options = servables.LoadOptions(session_config=configs.read_session_config(""))
    loaded = {path: servables.Servable("latency", 1, path, options) for path in version_paths}
    return {path: lambda inputs, servable=servable: servable.run(
                "serving_default",
                {name: np.array(values, dtype=object) for name, values in inputs.items()})
            for path, servable in loaded.items()}


# `--runtime`'s loaders: version paths in, `{path: serve(inputs)}` out.
RUNTIMES = {"eager": _eager_serves, "served": _served_serves}


def measure(version_paths, texts, config):
    """`{path: {"1": median ms, "32": median ms}}` of each path's `serving_default`."""
    import tensorflow_text  # noqa: F401  (registers the ops the exported tokenizers use)

    from benchmarks.timing import median_ms_in_turns

    texts = texts[: config.latency_texts]
    serves = RUNTIMES[config.runtime](version_paths)
    results = {path: {} for path in version_paths}
    for batch in (1, LATENCY_BATCH):
        inputs = [texts[start : start + batch] for start in range(0, len(texts), batch)]
        calls = {
            path: lambda serve=serve, batches=itertools.cycle(inputs): serve({"text": next(batches)})
            for path, serve in serves.items()
        }
        medians = median_ms_in_turns(calls, config.warmup_calls, config.latency_calls, config.block)
        for path, median in medians.items():
            results[path][str(batch)] = median
    return results


def measure_in_subprocess(version_paths, texts_path, onednn, config):
    """`measure` in a process of its own with `TF_ENABLE_ONEDNN_OPTS` set to `onednn` (bool)."""
    job = subprocess.run(
        [sys.executable, "-m", "benchmarks.export_latency", f"--texts={texts_path}",
         f"--runtime={config.runtime}", f"--latency_texts={config.latency_texts}",
         f"--latency_calls={config.latency_calls}", f"--warmup_calls={config.warmup_calls}",
         f"--block={config.block}", *version_paths],
        env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0",
             "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True, text=True, check=False,
    )
    if job.returncode:
        raise RuntimeError(f"benchmarks.export_latency failed:\n{job.stderr[-3000:]}")
    return json.loads(job.stdout.strip().splitlines()[-1])


def add_arguments(parser):
    """The latency flags, shared with the benchmarks that call `measure_in_subprocess`."""
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default="served",
                        help="served: as our model server runs a version (transport aside); "
                             "eager: the signature of tf.saved_model.load, called from Python.")
    parser.add_argument("--latency_texts", type=int, default=128, help="Texts the calls cycle over.")
    parser.add_argument("--latency_calls", type=int, default=100,
                        help="Timed calls per model and batch size.")
    parser.add_argument("--warmup_calls", type=int, default=10, help="Untimed calls before them.")
    parser.add_argument("--block", type=int, default=20, help="Calls a model gets in a row.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", required=True, help="A UTF-8 file of texts, one a line.")
    parser.add_argument("version_paths", nargs="+", help="Exported SavedModels, e.g. <export_dir>/1.")
    add_arguments(parser)
    config = parser.parse_args()
    with open(config.texts, encoding="utf-8") as file:
        texts = file.read().splitlines()
    print(json.dumps(measure(config.version_paths, texts, config)))


if __name__ == "__main__":
    main()
