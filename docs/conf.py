"""Sphinx configuration for the sklearn-rae documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``; the gallery
examples in ``docs/examples`` are executed during the build.
"""

import os
import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
REPO_ROOT = DOCS_DIR.parent
if (REPO_ROOT / "sklearn_rae").is_dir():
    sys.path.insert(0, str(REPO_ROOT))

import sklearn_rae  # noqa: E402
from sklearn_rae._estimator import DEFAULT_MERGE_COST  # noqa: E402
from sklearn_rae._registry import MERGE_COSTS  # noqa: E402

project = "sklearn-rae"
author = "the sklearn-rae developers"
copyright = "the sklearn-rae developers"
version = release = sklearn_rae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "sg_execution_times.rst"]
root_doc = "index"

# Markdown pages (performance.md, quality.md): headings get anchors so that
# links to sections resolve, and "$...$" is maths as in the reST pages.
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# API reference: one page per public object, numpydoc docstrings.
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Gallery: every docs/examples/plot_*.py runs at build time; an example that
# fails fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-rae {release}"
html_static_path = ["_static"]
html_theme_options = {"secondary_sidebar_items": ["page-toc"]}
html_sidebars = {"**": []}


def _write_generated_includes() -> None:
    """Text that follows the code: the criteria and the command line's help."""
    generated = DOCS_DIR / "generated"
    generated.mkdir(exist_ok=True)
    lines = []
    summaries = {name: entry.description for name, entry in MERGE_COSTS.items()}
    for name in sorted(summaries):
        summary = summaries[name].strip().splitlines()
        default = " (the default)" if name == DEFAULT_MERGE_COST else ""
        first = summary[0].rstrip(".") if summary else ""
        lines.append(f'- ``merge_cost="{name}"``{default}: {first}.')
    (generated / "criteria.inc").write_text("\n".join(lines) + "\n")

    from sklearn_rae.engines.greedy import estimate_linkage_memory

    rows = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :align: left",
        "",
        "   * - samples",
        "     - memory for one tree",
    ]
    for n_samples in (1_000, 10_000, 20_000, 50_000, 100_000):
        gib = estimate_linkage_memory(n_samples) / 2**30
        size = f"{gib * 1024:.0f} MiB" if gib < 1 else f"{gib:.1f} GiB"
        rows += [f"   * - {n_samples:,}", f"     - {size}"]
    (generated / "memory_table.inc").write_text("\n".join(rows) + "\n")

    from sklearn_rae.cli import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        help_text = build_parser().format_help()
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    (generated / "cli_help.txt").write_text(help_text)


_write_generated_includes()
