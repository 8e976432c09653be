"""The ``gdcore`` command: the demo end to end, fit/sweep on a CSV, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import gdcore
from gdcore.cli import main, parse_lrs

DEMO_PNGS = ("data.png", "first_guess.png", "fit_before_after.png", "loss_curves.png",
             "sweep.png", "trajectory.png", "lr_find.png", "momentum.png", "mlp_sweep.png",
             "edge_of_stability.png")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gdcore.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def strict_json(path):
    """JSON as the standard has it: NaN and Infinity are not allowed."""
    def bad(name):
        raise AssertionError(f"{path.name} holds {name}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=bad)


def assert_demo_statuses(summary):
    status = {run["lr"]: run["status"] for run in summary["runs"]}
    assert set(status) == {0.1, 0.7, 1.01}
    assert status[0.1] in ("converged", "max_epochs")
    assert status[0.7] == "converged"
    assert status[1.01] == "diverged"


# ---------------------------------------------------------------------------
# gdcore demo


def test_demo_subprocess_writes_every_promised_file(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = proc.stdout
    assert "first guess w = (-1.0, 1.0): MSE = 10.00" in text
    for word in ("monotone", "oscillating", "divergent", "best_lr", "lr_find", "suggestion",
                 "lr_opt", "lr_crit"):
        assert word in text
    for name in DEMO_PNGS:
        with Image.open(out / name) as im:
            pixels = np.asarray(im.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10, name
    with Image.open(out / "animation.gif") as im:
        assert im.n_frames > 1
    assert (out / "animation.gif").stat().st_size < 1_500_000
    summary = strict_json(out / "summary.json")
    assert_demo_statuses(summary)
    assert summary["data"]["first_guess"]["weights"] == [-1.0, 1.0]
    assert set(summary["files"]) >= set(DEMO_PNGS) | {"animation.gif", "summary.json", "sweep.csv"}
    assert summary["sweep"]["best_lr"] is not None
    assert summary["lr_find"]["warnings"], "the seed data's valley suggestion should be flagged"
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("lr,regime,status,converged_epoch,predicted_epoch")
    assert len(rows) == 61
    assert_demo_second_act(text, summary["nonlinear"])


def assert_demo_second_act(text, act):
    """The MLP act: lambda_0 and its bracket, a sweep with a measured onset, the edge of stability."""
    assert "second act" in text and "sharpness at init lambda_0 =" in text
    assert act["blog_remark"] in text and "edge of stability" in text
    lam0 = act["stability"]["lambda_max"]
    assert act["stability"]["lr_crit"] == pytest.approx(2 / lam0)
    sweep = act["sweep"]
    assert sweep["horizon"] == 2000 and len(sweep["runs"]) == 32
    assert sweep["divergence_onset"] is not None and 1.0 <= sweep["onset_over_lr_crit"] <= 2.0
    statuses = [r["status"] for r in sweep["runs"]]
    assert statuses[0] != "diverged" and statuses[-1] == "diverged"
    low, mid, high = act["edge_of_stability"]["runs"]
    assert [r["lr_over_lr_crit"] for r in (low, mid, high)] == [0.25, 0.5, 0.9]
    # below: the sharpness never reaches 2/lr and the loss falls every epoch
    assert low["edge_reached_epoch"] is None and low["loss_rises"] == 0
    # at 0.5 x 2/lambda_0: the sharpness climbs to 2/lr, hovers within ~15% of it, the loss spikes
    # above L0 and still ends far below it (Cohen et al. 2021)
    assert 100 <= mid["edge_reached_epoch"] <= 2000
    assert 0.8 <= mid["late_sharpness_over_edge"][0] and mid["late_sharpness_over_edge"][1] <= 1.3
    assert mid["loss_rises"] > 0 and mid["peak_loss"] > mid["initial_loss"]
    assert mid["final_loss"] < 0.05 * mid["initial_loss"]
    assert all(r["status"] != "diverged" for r in (low, mid, high))


def test_demo_without_out_only_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--epochs", "50"]) == 0
    out = capsys.readouterr().out
    assert "pass --out DIR" in out
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# gdcore fit / sweep on a CSV


@pytest.fixture
def house_csv(tmp_path):
    """y = 3 size + 2 rooms + 1 + noise, with a text column to ignore."""
    rng = np.random.default_rng(0)
    size = rng.uniform(-1, 1, 60)
    rooms = rng.uniform(-1, 1, 60)
    price = 3 * size + 2 * rooms + 1 + rng.uniform(0, 0.1, 60)
    lines = ["size,rooms,name,price"]
    lines += [f"{a:.6f},{b:.6f},house {i},{c:.6f}" for i, (a, b, c) in enumerate(zip(size, rooms, price))]
    path = tmp_path / "houses.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_happy_path_subprocess(house_csv, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fit"
    proc = run_cli("fit", house_csv, "--target", "price", "--features", "size", "--lr", "0.1,0.7",
                   "--lr", "1.2", "--epochs", "60", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert any("0.1" in ln and "monotone" in ln and "converged" in ln for ln in lines)
    assert any("1.2" in ln and "divergent" in ln and "diverged" in ln for ln in lines)
    assert any(ln.startswith("weights (lr=0.7") and "size=" in ln and "bias=" in ln for ln in lines)
    for name in ("fit.json", "losses.csv", "loss_curves.png", "fit.png", "trajectory.png"):
        assert (out / name).stat().st_size > 0, name
    summary = strict_json(out / "fit.json")
    assert [r["lr"] for r in summary["runs"]] == [0.1, 0.7, 1.2]
    assert summary["data"]["features"] == ["size", "bias"]
    assert set(summary["runs"][1]["weights_by_name"]) == {"size", "bias"}
    header = (out / "losses.csv").read_text().splitlines()[0]
    assert header == "epoch,loss_lr=0.1,loss_lr=0.7,loss_lr=1.2"


def test_fit_and_sweep_commands_on_every_backend(backend, house_csv, tmp_path, capsys):
    common = [str(house_csv), "--target", "price", "--features", "size", "--epochs", "60",
              "--backend", backend, "--no-plots"]
    assert main(["fit", *common, "--lr", "0.3,0.7,1.2", "--out", str(tmp_path / "f")]) == 0
    runs = strict_json(tmp_path / "f" / "fit.json")["runs"]
    assert [r["status"] for r in runs] == ["converged", "converged", "diverged"]
    assert all(r["backend"] == backend for r in runs)
    assert main(["sweep", *common, "--lrs", "0.3,0.7,1.2", "--out", str(tmp_path / "s")]) == 0
    sweep = strict_json(tmp_path / "s" / "sweep.json")
    assert [r["status"] for r in sweep["runs"]] == ["converged", "converged", "diverged"]
    assert [r["converged_epoch"] for r in sweep["runs"][:2]] == [r["converged_epoch"] for r in runs[:2]]
    assert not list(tmp_path.glob("*/*.png"))
    assert "best_lr = 0.7" in capsys.readouterr().out


def test_fit_defaults_to_lr_opt_and_matches_the_library(house_csv, capsys):
    assert main(["fit", str(house_csv), "--target", "price", "--features", "size,rooms",
                 "--no-bias", "--epochs", "40"]) == 0
    out = capsys.readouterr().out
    data = np.genfromtxt(house_csv, delimiter=",", names=True, dtype=None, encoding="utf-8")
    X = np.column_stack([data["size"], data["rooms"]])
    s = gdcore.stability(X)
    assert f"using the analytic lr_opt = {s.lr_opt:.4g}" in out
    r = gdcore.fit(X, data["price"], lr=s.lr_opt, epochs=40)
    assert f"size={float(r.weights[0]):.6g}, rooms={float(r.weights[1]):.6g}" in out
    assert "bias=" not in out


def test_fit_standardize(house_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["fit", str(house_csv), "--target", "price", "--features", "size,rooms",
                 "--standardize", "--lr", "0.5", "--out", str(tmp_path), "--epochs", "30"]) == 0
    out = capsys.readouterr().out
    assert "(standardized)" in out and "note: weights refer to the standardized columns" in out
    assert (tmp_path / "fit.png").exists() and not (tmp_path / "trajectory.png").exists()


def test_sweep_happy_path(house_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["sweep", str(house_csv), "--target", "price", "--features", "size,rooms",
                 "--lrs", "0.05:1.5:9:log", "--epochs", "50", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best_lr =" in out and "lr_crit" in out
    summary = strict_json(tmp_path / "sweep.json")
    assert len(summary["runs"]) == 9
    assert summary["runs"][-1]["status"] == "diverged"
    assert len((tmp_path / "sweep.csv").read_text().splitlines()) == 10
    for name in ("sweep.png", "loss_curves.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_sweep_default_lrs_bracket_lr_crit(house_csv, capsys):
    assert main(["sweep", str(house_csv), "--target", "price", "--features", "size",
                 "--epochs", "30"]) == 0
    out = capsys.readouterr().out
    assert "no --lrs given: 60 lrs" in out
    assert "diverged" in out and "converged" in out


def test_cli_sweep_is_one_vectorised_call(house_csv, monkeypatch, capsys):
    """No chunks of lrs (each would redo the pass over X): one sweep, its epochs drive the bar."""
    from gdcore.study import _sweep

    calls = []
    real = _sweep.sweep_study  # the sweep on the data the command analysed (once)

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(_sweep, "sweep_study", counting)
    assert main(["sweep", str(house_csv), "--target", "price", "--features", "size", "--lrs",
                 "1e-6:1e-4:40:log", "--epochs", "30", "--no-stop"]) == 0
    assert calls == [40]


def test_progress_degrades_without_tqdm(monkeypatch):
    from gdcore.cli import _progress

    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    items = [1, 2, 3]
    assert _progress(items, enabled=True, desc="x") is items
    from gdcore.cli import _epoch_bar

    assert _epoch_bar(enabled=True, total=10, desc="x") is None


@pytest.mark.parametrize("text, expected", [
    ("0.1", [0.1]),
    ("0.1,0.7, 1.01", [0.1, 0.7, 1.01]),
    ("0.1:0.5:5", [0.1, 0.2, 0.3, 0.4, 0.5]),
    ("0.01:1:3:log", [0.01, 0.1, 1.0]),
])
def test_parse_lrs(text, expected):
    np.testing.assert_allclose(parse_lrs(text), expected)


@pytest.mark.parametrize("command", ["fit", "sweep", "demo"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    options = {"fit": ["--target", "--features", "--no-bias", "--standardize", "--lr ", "--epochs",
                       "--backend", "--out", "--rtol", "--sep", "--no-plots", "--no-progress",
                       "--model", "mlp:100", "--sharpness-every"],
               "sweep": ["--target", "--features", "--no-bias", "--standardize", "--lrs",
                         "--epochs", "--backend", "--out", "--model", "--sharpness-every"],
               "demo": ["--out", "--backend", "--epochs", "--seed"]}[command]
    for opt in options:
        assert opt in text, opt
    if command != "demo":
        assert "example:" in text


# ---------------------------------------------------------------------------
# bad input: exit code 2 and exactly one line on stderr


def _bad_csv(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD = {
    "missing target column": (
        lambda p: ["fit", p["good"], "--target", "prix"],
        "column 'prix' (--target) not found in {good}; columns are: a, b, y"),
    "missing feature column": (
        lambda p: ["sweep", p["good"], "--target", "y", "--features", "a,zzz"],
        "column 'zzz' (--features) not found"),
    "non-numeric cell": (
        lambda p: ["fit", p["text"], "--target", "y"],
        "non-numeric value 'abc' in column 'b', row 2 (line 3)"),
    "empty cell": (
        lambda p: ["fit", p["empty"], "--target", "y"],
        "missing value (NaN) in column 'a', row 3 (line 4)"),
    "NaN": (
        lambda p: ["fit", p["nan"], "--target", "y"],
        "missing value (NaN) in column 'y', row 1 (line 2)"),
    "inf": (
        lambda p: ["fit", p["inf"], "--target", "y"],
        "infinite value 'inf' in column 'b', row 2 (line 3)"),
    "ragged row": (
        lambda p: ["fit", p["ragged"], "--target", "y"],
        "line 3 of {ragged} has 2 fields but the header has 3"),
    "no rows": (
        lambda p: ["fit", p["header_only"], "--target", "y"],
        "has a header but no data rows"),
    "empty file": (
        lambda p: ["fit", p["blank"], "--target", "y"],
        "is empty"),
    "missing file": (
        lambda p: ["fit", p["missing"], "--target", "y"],
        "not found"),
    "target in features": (
        lambda p: ["fit", p["good"], "--target", "y", "--features", "a,y"],
        "column 'y' is both --target and in --features"),
    "negative lr": (
        lambda p: ["fit", p["good"], "--target", "y", "--lr", "-0.1"],
        "argument --lr: '-0.1' must be a finite number > 0"),
    "text lr": (
        lambda p: ["fit", p["good"], "--target", "y", "--lr", "fast"],
        "argument --lr: 'fast' is not a number"),
    "bad lrs range": (
        lambda p: ["sweep", p["good"], "--target", "y", "--lrs", "0.1:1"],
        "is not START:STOP:NUM[:log]"),
    "negative epochs": (
        lambda p: ["sweep", p["good"], "--target", "y", "--epochs", "-5"],
        "argument --epochs: '-5' must be >= 0"),
    "unknown backend": (
        lambda p: ["fit", p["good"], "--target", "y", "--backend", "tensorflow"],
        "unknown backend 'tensorflow'"),
    "missing --target": (
        lambda p: ["fit", p["good"]],
        "the following arguments are required: --target"),
    "unknown command": (
        lambda p: ["train", p["good"]],
        "invalid choice: 'train'"),
    "unknown model": (
        lambda p: ["fit", p["good"], "--target", "y", "--model", "cnn"],
        "argument --model: unknown model 'cnn'; use 'linear' or 'mlp:WIDTHS[:ACTIVATION]'"),
    "model widths not integers": (
        lambda p: ["sweep", p["good"], "--target", "y", "--model", "mlp:wide"],
        "argument --model: model 'mlp:wide': hidden widths must be integers"),
    "model width zero": (
        lambda p: ["fit", p["good"], "--target", "y", "--model", "mlp:0"],
        "argument --model: hidden must hold one or more positive layer widths"),
    "model activation": (
        lambda p: ["fit", p["good"], "--target", "y", "--model", "mlp:8:sigmoid"],
        "argument --model: activation must be one of"),
    "sharpness of a linear model": (
        lambda p: ["fit", p["good"], "--target", "y", "--sharpness-every", "5"],
        "--sharpness-every tracks the moving Hessian of an mlp --model"),
}


@pytest.fixture
def csv_files(tmp_path):
    files = {
        "good": "a,b,y\n1,2,3\n2,1,4\n3,5,1\n",
        "text": "a,b,y\n1,2,3\n2,abc,4\n",
        "empty": "a,b,y\n1,2,3\n2,1,4\n,5,1\n",
        "nan": "a,b,y\n1,2,NaN\n2,1,4\n",
        "inf": "a,b,y\n1,2,3\n2,inf,4\n",
        "ragged": "a,b,y\n1,2,3\n2,1\n",
        "header_only": "a,b,y\n",
        "blank": "",
    }
    paths = {k: _bad_csv(tmp_path, v, f"{k}.csv") for k, v in files.items()}
    paths["missing"] = str(tmp_path / "nope.csv")
    return paths


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line(case, csv_files, capsys):
    make_args, message = BAD[case]
    assert main(make_args(csv_files)) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("gdcore: error: ")
    assert message.format(**csv_files) in err
    assert "Traceback" not in err
    assert captured.out == ""


@pytest.mark.parametrize("case", ["missing target column", "NaN"])
def test_bad_input_subprocess_has_no_traceback(case, csv_files):
    make_args, message = BAD[case]
    proc = run_cli(*make_args(csv_files))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message.format(**csv_files) in proc.stderr
    assert proc.stdout == ""


def test_the_cli_reads_data_through_gdcore_io_read_only(tmp_path):
    import gdcore.cli
    import gdcore.io

    assert not hasattr(gdcore.cli, "read_csv")  # one reader, in gdcore.io
    f = tmp_path / "d.csv"
    f.write_text("a;y\n1;2\nabc;3\n")
    message = "non-numeric value 'abc' in column 'a', row 2 (line 3)"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gdcore.io.read(f, target="y", sep=";", lazy=False)
    r = run_cli("fit", f, "--target", "y", "--sep", ";")
    assert r.returncode == 2 and message in r.stderr
    f.write_text("a;y\n1;2\n3;7\n")
    X, y, names = gdcore.io.read(f, target="y", sep=";", lazy=False, return_names=True)
    np.testing.assert_array_equal(X, [[1.0, 1.0], [3.0, 1.0]])
    assert y.tolist() == [2.0, 7.0] and names == ["a", "bias"]


# ---------------------------------------------------------------------------
# --model mlp:...: a non-linear model on the user's CSV, measured curvature


@pytest.fixture
def wave_csv(tmp_path):
    """y = sin(4x) on 30 points of [-1, 1]: a smooth 1-D target for a small tanh MLP."""
    x = np.linspace(-1, 1, 30)
    path = tmp_path / "wave.csv"
    rows = "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, np.sin(4 * x)))
    path.write_text("x,y\n" + rows)
    return path, x[:, None], np.sin(4 * x)


def test_fit_with_an_mlp_model_prints_the_measured_curvature(wave_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, X, y = wave_csv
    m = gdcore.models.mlp((12,))
    c = gdcore.stability(X, y, model=m)
    lrs = [0.5 * c.lr_crit, 20 * c.lr_crit]
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--target", "y", "--model", "mlp:12", "--lr",
                 ",".join(repr(float(v)) for v in lrs), "--epochs", "150", "--sharpness-every", "25",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(no bias column: the MLP has its own biases)" in text
    assert f"sharpness at init lambda_0 = {c.lambda_max:.4g}" in text
    assert f"2/lambda_0 = {c.lr_crit:.4g}" in text and f"{2 * c.lr_crit:.4g})" in text
    assert "horizon: 150 epochs" in text
    rows = [ln.split() for ln in text.splitlines() if ln.strip().startswith(f"{lrs[0]:.4g} ")
            or ln.strip().startswith(f"{lrs[1]:.4g} ")]
    assert [r[1:4] for r in rows] == [["0.5", "below-edge", "max_epochs"],
                                      ["20", "above-edge", "diverged"]]
    summary = strict_json(out / "fit.json")
    lib = [gdcore.fit(X, y, lr=lr, epochs=150, model=m) for lr in lrs]
    assert [r["status"] for r in summary["runs"]] == [r.status for r in lib]
    assert summary["runs"][0]["losses"][:50] == pytest.approx(lib[0].losses[:50].tolist(), rel=1e-12)
    assert summary["stability"]["lambda_max"] == pytest.approx(c.lambda_max, rel=1e-9)
    assert summary["data"]["features"] == ["x"] and summary["data"]["bias"] is False
    assert summary["runs"][0]["sharpness"]["epochs"][:2] == [0, 25]
    for name in ("losses.csv", "loss_curves.png", "edge_of_stability.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "fit.png").exists() and not (out / "trajectory.png").exists()


def test_sweep_with_an_mlp_model_reports_the_onset_against_the_bracket(wave_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, X, y = wave_csv
    m = gdcore.models.mlp((12,))
    c = gdcore.stability(X, y, model=m)
    lrs = c.lr_crit * np.array([0.25, 0.5, 1.5, 3.0, 6.0])
    out = tmp_path / "sweep"
    assert main(["sweep", str(path), "--target", "y", "--model", "mlp:12", "--lrs",
                 ",".join(repr(float(v)) for v in lrs), "--epochs", "200", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    sw = gdcore.sweep(X, y, lrs, epochs=200, model=m, stop_on_convergence=True)
    assert sw.divergence_onset is not None
    assert (f"divergence onset (measured within 200 epochs): lr = {sw.divergence_onset:.4g} = "
            f"{sw.onset_over_lr_crit:.3g} x 2/lambda_0") in text
    summary = strict_json(out / "sweep.json")
    assert [r["status"] for r in summary["runs"]] == list(sw.status)
    assert summary["divergence_onset"] == pytest.approx(sw.divergence_onset)
    assert summary["horizon"] == 200
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0] == ("lr,lr_over_lr_crit,regime,status,converged_epoch,diverged_epoch,final_loss,"
                       "final_over_l0,peak_over_l0")
    assert len(rows) == 6 and [float(r.split(",")[1]) for r in rows[1:]] == pytest.approx(
        [0.25, 0.5, 1.5, 3.0, 6.0])
    for name in ("sweep.png", "loss_curves.png"):
        assert (out / name).stat().st_size > 0, name


def test_the_model_option_defaults_to_the_linear_study(house_csv, capsys):
    common = [str(house_csv), "--target", "price", "--features", "size", "--lr", "0.7",
              "--epochs", "40"]
    assert main(["fit", *common]) == 0
    plain = capsys.readouterr().out
    assert main(["fit", *common, "--model", "linear"]) == 0
    assert capsys.readouterr().out == plain
    assert "lr_opt" in plain and "lambda_0" not in plain
