"""The worked backbone of docs/byom.md (a learnable pair potential on the FCLModel template),
run exactly as written there: it must pass every check of the testing kit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    text = (ROOT / "docs" / "byom.md").read_text()
    block = re.search(r"<!-- pair-potential:start -->(.*?)<!-- pair-potential:end -->", text, re.S)
    assert block, "docs/byom.md lost its pair-potential example markers"
    code = re.findall(r"```python\n(.*?)```", block.group(1), re.S)
    assert len(code) == 2, f"expected the model and its check, found {len(code)} code blocks"
    return "\n".join(code)


@pytest.fixture(scope="module")
def example() -> dict:
    namespace: dict = {"__name__": "byom_example"}
    cwd = os.getcwd()
    os.chdir(ROOT)  # the docs use repository-relative data paths
    try:
        exec(compile(_example(), "docs/byom.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_pair_potential_passes_every_check(example):
    ran = {name for _, name in example["checks"]}
    # the sharp ones: finite differences, smoothness across cutoffs, pruning, symmetry, batching
    assert {"forces_fd", "stress_fd", "cutoff_gradients_fd", "smooth_at_edge_cutoff"} <= ran
    assert {"pruning_exact", "rotation", "extensive", "batch"} <= ran
