"""``gdcore suggest``: the lr, its reason and the candidates; bad input is one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gdcore
from gdcore.cli import main


@pytest.fixture
def csvs(tmp_path):
    x = np.linspace(-1, 1, 50)
    lin, net = tmp_path / "lin.csv", tmp_path / "net.csv"
    np.savetxt(lin, np.c_[x, 3 * x + 2], delimiter=",", header="x,y", comments="")
    np.savetxt(net, np.c_[x, np.sin(3 * x)], delimiter=",", header="x,y", comments="")
    return lin, net


def test_suggest_linear_prints_the_closed_form_lr(csvs, capsys):
    lin, _ = csvs
    assert main(["suggest", str(lin), "--target", "y", "--epochs", "100"]) == 0
    out = capsys.readouterr().out
    s = gdcore.suggest_lr(np.c_[np.linspace(-1, 1, 50), np.ones(50)],
                          3 * np.linspace(-1, 1, 50) + 2, epochs=100)
    assert f"suggested lr: {s.lr:.4g} for 100 epochs (closed form, cost 0 runs)" in out
    assert "predicted loss" in out and out.count("\n*") == 1


def test_suggest_network_prints_the_sweep_and_writes_json(csvs, tmp_path, capsys):
    _, net = csvs
    out_dir = tmp_path / "out"
    assert main(["suggest", str(net), "--target", "y", "--epochs", "100", "--model", "mlp:20",
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "suggested lr:" in out and "(sweep, cost" in out and "diverged" in out
    def bad(name):
        raise AssertionError(name)
    d = json.loads((out_dir / "suggest.json").read_text(), parse_constant=bad)
    assert f"{d['suggestion']['lr']:.4g}" in out.splitlines()[2]


@pytest.mark.parametrize("argv, says", [
    (["--target", "nope", "--epochs", "10"], "column 'nope'"),
    (["--target", "y", "--epochs", "0"], "--epochs must be at least 1"),
    (["--target", "y", "--epochs", "10", "--optimizer", "sgd"], "not an optimizer"),
    (["--target", "y", "--epochs", "10", "--optimizer", "momentum:2"], "--optimizer"),
])
def test_suggest_bad_input_is_one_line_and_exit_2(csvs, capsys, argv, says):
    lin, _ = csvs
    assert main(["suggest", str(lin), *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and err.startswith("gdcore: error:")
