"""The bad-input corpus (cases.py): every bad input gives its message, nothing crashes, and no
command exits 0 with a NaN (issue 15)."""

from __future__ import annotations

import math
import re
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, make_files  # noqa: E402

from pyg_fcl.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad_inputs")
    files = make_files(d)
    (d / "existing").mkdir()
    shutil.copy(files["model"], d / "existing" / "last.pt")
    return files


def _argv(case, files) -> list[str]:
    def fill(arg: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: files.get(m.group(1), m.group(0)), arg)

    return [fill(a) for a in case.argv]


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case, files, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if case.kind == "api":
        with pytest.raises(case.error, match=case.message):
            case.call(files)
        return
    argv = _argv(case, files)
    if case.code == 2:  # argparse usage error
        with pytest.raises(SystemExit) as exc:
            main(argv)
        code = exc.value.code
    else:
        code = main(argv)
    out, err = capsys.readouterr()
    assert code == case.code, f"exit {code}\nstdout: {out[-1500:]}\nstderr: {err[-1500:]}"
    text = err if case.code else out
    assert re.search(case.message, text), f"message {case.message!r} not in:\n{text[-2000:]}"
    if case.code == 1:
        lines = [line for line in err.splitlines() if line.startswith("pyg-fcl ")]
        assert lines and "error:" in lines[-1], err
        assert "Traceback" not in err
    if case.code == 0:
        assert not re.search(r"\bnan\b", out, re.I), out


def test_unknown_class_module_was_never_imported(files, capsys):
    assert main(["md", "--model", files["unknown_class"], "--structure", files["co2"]]) == 1
    assert not (Path(files["dir"]) / "IMPORTED").exists()
    assert "pyg_fcl_corpus_evil" not in sys.modules


def test_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert math.isfinite(len(CASES))


def test_every_case_is_in_the_troubleshooting_page():
    page = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()
    missing = [c.id for c in CASES if f"`{c.id}`" not in page]
    assert not missing, f"run python tests/bad_inputs/make_docs.py; missing: {missing}"
