"""The documentation builds with warnings as errors, gallery included."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from checkout_env import checkout_env

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
BUILD_OUTPUTS = ("_build", "auto_examples", "generated", "sg_execution_times.rst")


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None,
    reason="building the docs needs Sphinx: pip install '.[docs]'",
)
def test_docs_build_without_warnings(tmp_path):
    # Build a copy so that the gallery's and autosummary's outputs stay out of
    # the source tree.
    source = tmp_path / "docs"
    shutil.copytree(DOCS_DIR, source, ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
    html = tmp_path / "html"
    env = checkout_env(MPLBACKEND="Agg")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(source),
            str(html),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    pages = [
        "index",
        "getting_started",
        "user_guide",
        "api",
        "performance",
        "quality",
        "generated/sklearn_rae.RecursiveAutoencoderClustering",
        "generated/sklearn_rae.plot_dendrogram",
        "generated/sklearn_rae.linkage_to_frame",
        "auto_examples/index",
    ]
    for page in pages:
        assert (html / f"{page}.html").is_file(), page
    examples = sorted(p.stem for p in (DOCS_DIR / "examples").glob("plot_*.py"))
    assert len(examples) >= 4
    for example in examples:
        assert (html / "auto_examples" / f"{example}.html").is_file(), example
        # Every example ran and drew at least one figure.
        figures = list((html / "_images").glob(f"sphx_glr_{example}_0*.png"))
        assert figures, example
    api = (
        html / "generated/sklearn_rae.RecursiveAutoencoderClustering.html"
    ).read_text()
    for method in ("fit", "predict", "score", "bic", "aic", "fit_predict"):
        assert f'id="sklearn_rae.RecursiveAutoencoderClustering.{method}"' in api
    assert "Added in version" not in api


def test_api_docstrings_carry_no_inherited_version_notes():
    # scikit-learn's "versionadded" notes are about scikit-learn's releases,
    # not this package's.
    from sklearn_rae import RecursiveAutoencoderClustering

    for name in ("fit", "fit_predict", "predict", "score"):
        doc = getattr(RecursiveAutoencoderClustering, name).__doc__
        assert "versionadded" not in doc, name


def test_doc_pages_repeat_no_paragraph():
    # A paragraph, or the lead-in line of a list ("What the numbers say:"),
    # written twice on one page.
    for page in sorted(DOCS_DIR.glob("*.md")) + sorted(DOCS_DIR.glob("*.rst")):
        blocks = [b.strip() for b in page.read_text().split("\n\n") if b.strip()]
        leads = []
        for block in blocks:
            first = block.splitlines()[0]
            if block[0].isalpha() and first.endswith(":"):
                leads.append(first)
            elif len(block) > 200:
                leads.append(" ".join(block.split()))
        repeated = {lead for lead in leads if leads.count(lead) > 1}
        assert not repeated, (page.name, repeated)
