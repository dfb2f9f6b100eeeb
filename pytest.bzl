"""Bazel macro for this repository's pytest files."""

load("@rules_python//python:defs.bzl", "py_test")

def pytest_test(name, src, deps = None, **kwargs):
    """A py_test that runs the pytest file `src` through tests/pytest_main.py.

    Args:
      name: name of the test target.
      src: the pytest file to run.
      deps: py_library targets the test imports, besides :test_support.
      **kwargs: further py_test arguments (size, tags, ...).
    """
    py_test(
        name = name,
        srcs = [src, "tests/pytest_main.py"],
        main = "tests/pytest_main.py",
        args = ["$(location %s)" % src],
        deps = (deps or []) + [":test_support"],
        **kwargs
    )
