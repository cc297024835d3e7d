"""The command line's modules: each small enough to read, the package tiny."""

from pathlib import Path

import pytest

import sklearn_rae.cli

CLI = Path(sklearn_rae.cli.__file__).resolve().parent
MAX_LINES = 600


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_cli_module_is_at_most_600_lines(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines"


def test_cli_package_only_reexports_the_entry_point():
    from sklearn_rae.cli import main as entry
    from sklearn_rae.cli.main import main as in_module

    assert entry is in_module
    assert (CLI / "__init__.py").read_text().count("\n") <= 40
