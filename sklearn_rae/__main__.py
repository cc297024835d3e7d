"""``python -m sklearn_rae``: the command line of :mod:`sklearn_rae.cli`.

Ctrl-C while the command starts, before :func:`~sklearn_rae.cli.main` has
taken over the signals, ends it with one line and status 130 too, not with a
traceback from inside an import.
"""

import sys

try:
    from sklearn_rae.cli import build_parser, main  # noqa: F401 (docs/conf.py)
except KeyboardInterrupt:
    if __name__ != "__main__":
        raise
    print("sklearn-rae: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":
    raise SystemExit(main())
