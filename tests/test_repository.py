"""Promises of the repository itself: Bazel targets cover every module, CI runs the README's tests."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_DIRECTORIES = ("keras_simpletf", "trainers", "serving", "tests", "benchmarks")
TARGET_RULES = ("py_library", "py_binary", "py_test", "pytest_test")


def python_modules():
    return {
        str(path.relative_to(ROOT))
        for directory in PYTHON_DIRECTORIES
        for path in (ROOT / directory).rglob("*.py")
    }


def build_target_sources():
    """Every file named in `srcs` or `src` of a Python target in a BUILD file."""
    sources = set()
    for build_file in ROOT.rglob("BUILD"):
        package = build_file.parent.relative_to(ROOT)
        for node in ast.walk(ast.parse(build_file.read_text(), str(build_file))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in TARGET_RULES):
                continue
            for keyword in node.keywords:
                if keyword.arg == "srcs":
                    names = [element.value for element in keyword.value.elts]
                elif keyword.arg == "src":
                    names = [keyword.value.value]
                else:
                    continue
                sources.update(str(package / name) for name in names)
    return sources


def test_every_python_module_is_in_a_bazel_target():
    missing = sorted(python_modules() - build_target_sources())
    assert not missing, f"Python modules in no py_library/py_binary/py_test target: {missing}"


def test_every_bazel_source_exists():
    stale = sorted(
        source for source in build_target_sources() if not (ROOT / source).is_file()
    )
    assert not stale, f"BUILD files name sources that do not exist: {stale}"


def readme_commands():
    """The shell lines of the README's two quick-start command blocks."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- (main-job|tests) -->\n```bash\n(.*?)```", readme, re.S)
    return {name: block.strip() for name, block in blocks}


def test_ci_runs_exactly_the_readme_test_command():
    commands = readme_commands()
    assert set(commands) == {"main-job", "tests"}
    ci_script = (ROOT / ".ci" / "run").read_text()
    test_command = commands["tests"].splitlines()[-1]
    assert test_command in ci_script.splitlines()
