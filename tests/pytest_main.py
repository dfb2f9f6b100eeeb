"""Entry point of the Bazel test targets: runs pytest on the files in argv."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(sys.argv[1:]))
