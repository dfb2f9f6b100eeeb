"""A failed export (serving/export.py) raises its error and leaves nothing behind in the export dir.

The failures are real: a write refused by the operating system (a file size
limit, as a full disk would refuse it) and a version written by another
exporter while this one was writing.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf

from keras_simpletf.data import demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary
from serving.export import export

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]

# Run in a child process, so that its file size limit binds nothing else: builds a
# small classifier, exports it under a limit far below its saved_model.pb (about
# 1 MB) yet above every file written before it (its variables, about 50 KB), then
# again without the limit. Prints what it saw as JSON.
_EXPORT_UNDER_A_FILE_SIZE_LIMIT = """
import json, os, resource, signal, sys
from keras_simpletf.data import demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary
from serving.export import export

export_dir, limit = sys.argv[1], int(sys.argv[2])
texts, _ = demo_sentiment(200)
preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 115), sequence_length=16)
encoder = TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=16)
model = TextClassifier(encoder, labels=["negative", "neutral", "positive"])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
try:
    export(model, preprocessor, export_dir)
    error = None
except Exception as failure:
    error = {"type": type(failure).__name__, "message": str(failure)}
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
after_failure = sorted(os.listdir(export_dir))
retried = export(model, preprocessor, export_dir)
print(json.dumps({"error": error, "after_failure": after_failure, "retried": retried,
                  "after_retry": sorted(os.listdir(export_dir))}))
"""


def test_an_export_whose_write_fails_removes_its_staging_folder_and_raises(tmp_path):
    export_dir = str(tmp_path / "models")
    completed = subprocess.run(
        [sys.executable, "-c", _EXPORT_UNDER_A_FILE_SIZE_LIMIT, export_dir, str(256 * 1024)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    # The write into the staging folder failed (its path is in the error), and was raised.
    assert seen["error"] is not None, "the export under the file size limit did not fail"
    assert "File too large" in seen["error"]["message"]
    assert f"{export_dir}/.staging-1-" in seen["error"]["message"]
    # Nothing is left: no staging folder, no version.
    assert seen["after_failure"] == []
    # The version was not taken: the next export writes it.
    assert seen["retried"] == os.path.join(export_dir, "1")
    assert seen["after_retry"] == ["1"]
    assert tf.saved_model.contains_saved_model(seen["retried"])


class _RivalExporter(ClassificationPreprocessor):
    """A preprocessor that, when the export first traces it, writes the version being exported.

    As if another exporter had written that version while this one was
    writing: the rename into place finds it there.
    """

    rival_version = None

    def __call__(self, *args, **kwargs):
        if not os.path.exists(self.rival_version):
            os.makedirs(self.rival_version)
            pathlib.Path(self.rival_version, "written_by_the_rival").write_text("1")
        return super().__call__(*args, **kwargs)


def test_an_export_that_cannot_rename_into_place_removes_its_staging_folder(tmp_path):
    texts, _ = demo_sentiment(200)
    preprocessor = _RivalExporter(
        learn_vocabulary(texts, 115), sequence_length=16, name="rival_exporter"
    )
    preprocessor.rival_version = str(tmp_path / "1")
    encoder = TransformerEncoder(
        len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=16
    )
    model = TextClassifier(encoder, labels=["negative", "neutral", "positive"])
    with pytest.raises(tf.errors.AlreadyExistsError):
        export(model, preprocessor, str(tmp_path))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["1"]  # no staging folder
    assert [path.name for path in (tmp_path / "1").iterdir()] == ["written_by_the_rival"]
