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
