"""The command line's error boundary, --version and a --help that loads no torch (issue 15)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pyg_fcl
from pyg_fcl.cli import build_parser, main


def test_help_imports_no_torch():
    code = (
        "import sys\n"
        "from pyg_fcl.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in ('torch', 'torch_geometric', 'ase', 'e3nn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyg-fcl {pyg_fcl.__version__}"


def test_help_texts_have_no_rst_markup(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():
        text = subparser.format_help()
        assert "``" not in text, name


@pytest.mark.parametrize(
    ("err", "code", "text"),
    [
        (ValueError("bad value\nsecond line"), 1, "pyg-fcl graph: error: bad value; second line"),
        (FileNotFoundError(2, "No such file or directory", "x.xyz"), 1, "No such file"),
        (KeyboardInterrupt(), 130, "pyg-fcl graph: interrupted"),
    ],
)
def test_error_boundary(monkeypatch, capsys, err, code, text):
    from pyg_fcl.cli import graph

    monkeypatch.setattr(graph, "run", lambda args: (_ for _ in ()).throw(err))
    monkeypatch.setattr(graph, "add_parser", _wrap_add_parser(graph.add_parser, graph))
    assert main(["graph", "x.xyz"]) == code
    err_text = capsys.readouterr().err
    assert text in err_text and "Traceback" not in err_text


def _wrap_add_parser(add_parser, module):
    def wrapped(sub):
        p = add_parser(sub)
        p.set_defaults(run=lambda args: module.run(args))
        return p

    return wrapped


def test_bugs_keep_their_traceback(monkeypatch):
    from pyg_fcl.cli import graph

    monkeypatch.setattr(graph, "run", lambda args: (_ for _ in ()).throw(RuntimeError("bug")))
    monkeypatch.setattr(graph, "add_parser", _wrap_add_parser(graph.add_parser, graph))
    with pytest.raises(RuntimeError, match="bug"):
        main(["graph", "x.xyz"])


def test_traceback_on_request(monkeypatch):
    from pyg_fcl.cli import graph

    monkeypatch.setenv("PYG_FCL_TRACEBACK", "1")
    monkeypatch.setattr(graph, "run", lambda args: (_ for _ in ()).throw(ValueError("v")))
    monkeypatch.setattr(graph, "add_parser", _wrap_add_parser(graph.add_parser, graph))
    with pytest.raises(ValueError, match="v"):
        main(["graph", "x.xyz"])
