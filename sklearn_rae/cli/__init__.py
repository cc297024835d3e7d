"""Command line: cluster a CSV, ``.npy`` or ``.npz`` file, or iris, and write the tree.

``python -m sklearn_rae`` and the ``sklearn-rae`` console script run
:func:`main`. The command is built of four modules:

:mod:`~sklearn_rae.cli.main`
    The options (argparse) and the entry point, one function per step.
:mod:`~sklearn_rae.cli.read`
    Reading CSV, ``.npy`` and ``.npz`` files safely.
:mod:`~sklearn_rae.cli.columns`
    Choosing the columns: names and positions, identifiers, text columns.
:mod:`~sklearn_rae.cli.write`
    Writing ``labels.csv``, ``linkage.npy`` and ``dendrogram.png`` as a set.

and small ones beside them: :mod:`~sklearn_rae.cli.dialect` (a CSV file's
delimiter, numbers and header), :mod:`~sklearn_rae.cli.arguments` (the
options' values), :mod:`~sklearn_rae.cli.advice` (warnings before fitting),
:mod:`~sklearn_rae.cli.signals` (Ctrl-C, SIGTERM, SIGHUP) and
:mod:`~sklearn_rae.cli.messages` (errors and printed lines). The package's
attribute ``main`` is the entry-point function, not the module of that name:
import the module as ``importlib.import_module("sklearn_rae.cli.main")``.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
