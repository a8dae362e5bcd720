"""Every ```python block of README.md and docs/getting-started.md runs as written.

Two documented substitutions, nothing else: each path literal of the user's data (the table
PATHS) becomes a section of the small synthetic cohort, and `tl.fit` trains one epoch with the
small CNN on the patches (the blocks' own settings would take minutes). Blocks run in order,
one namespace per file, in a temporary working directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/getting-started.md")
PATHS = {  # path in the docs -> synthetic section
    "healthy1/outs": "SYN-NB-A", "healthy2/outs": "SYN-NB-B", "path/to/outs": "SYN-BC-A",
    "NB-A/outs": "SYN-NB-A", "NB-B/outs": "SYN-NB-B", "NB-C/outs": "SYN-NB-C", "BC-A/outs": "SYN-BC-A",
}  # fmt: skip
FAST = {"modalities": {"histology": {"encoder": "small-cnn", "channels": [8, 16, 32]}}, "train": {"threads": 1}}


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (REPO / doc).read_text(), flags=re.S | re.M)


def on_fixtures(block: str, cohort: Path) -> str:
    """The block with each path literal of PATHS replaced by its synthetic section folder."""
    return re.sub(r'"([^"\n]+)"', lambda m: repr(str(cohort / PATHS[m[1]])) if m[1] in PATHS else m[0], block)


@pytest.mark.parametrize("doc", DOCS)
def test_python_blocks_run(doc, synthetic_cohort, tmp_path, monkeypatch):
    from tissue_mib import tl

    real_fit = tl.fit
    monkeypatch.setattr(tl, "fit", lambda *a, **k: real_fit(*a, **{**k, "epochs": 1, "config": FAST}))
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(doc)
    assert blocks, f"{doc} has no python block"
    namespace: dict = {}
    for block in blocks:
        exec(compile(on_fixtures(block, synthetic_cohort), f"{doc} block", "exec"), namespace)  # noqa: S102
    assert "tissue_mib_score" in namespace["adata"].obs
