"""What the reader tests share: data files written to a temporary folder, and the error a bad line raises."""

import re

import pytest

from keras_simpletf.data.errors import DataError


def data_file(tmp_path, name, content):
    """Writes `content` (str as UTF-8, or bytes) to `tmp_path/name`; returns the path as str."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def raises_at(path, line_number, problem):
    """Expects a `DataError` whose message starts `path:line_number:` and holds `problem`."""
    return pytest.raises(
        DataError, match="^" + re.escape(f"{path}:{line_number}: ") + ".*" + re.escape(problem)
    )
