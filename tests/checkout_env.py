"""The environment of a subprocess that imports this checkout's package."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def checkout_env(**variables):
    """``os.environ`` with ``variables`` and this checkout first on PYTHONPATH."""
    env = dict(os.environ, **variables)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def run_in_checkout(script, timeout=300):
    """Run the Python ``script`` in a new process importing this checkout.

    Returns the completed process (output captured as text) once it has
    succeeded; a failure shows the end of its standard error.
    """
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def start_in_checkout(script, *arguments):
    """Start the Python ``script`` with ``arguments``, importing this checkout.

    Returns the running process, its standard output and error as text pipes.
    """
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", script, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=checkout_env(),
    )
