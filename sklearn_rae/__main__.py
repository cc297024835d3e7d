"""``python -m sklearn_rae``: the command line of :mod:`sklearn_rae.cli`."""

from sklearn_rae.cli import build_parser, main  # noqa: F401 (docs/conf.py)

if __name__ == "__main__":
    raise SystemExit(main())
