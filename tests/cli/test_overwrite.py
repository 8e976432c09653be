"""A user's files are sacred: gdcore never writes over the data it reads, never replaces a file
without --force (overwrite=True in Python), checks every output before writing any, and writes
each through a temporary renamed into place, so a failed or interrupted write leaves the old file.
"""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import gdcore
from gdcore.cli import main

OLD = "the user's own file\n"


@pytest.fixture
def data_csv(tmp_path):
    """A small CSV y = 3x + 2 (+ noise) the commands can read in well under a second."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 40)
    y = 3 * x + 2 + rng.uniform(0, 0.1, 40)
    path = tmp_path / "data.csv"
    path.write_text("x,y\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(x, y)))
    return path


def listing(folder):
    """Every entry of ``folder`` (hidden temporaries included) with its bytes, for files."""
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in pathlib.Path(folder).iterdir()}


def no_temporaries(folder):
    return [p.name for p in pathlib.Path(folder).iterdir() if ".tmp" in p.name] == []


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("gdcore: error: ") and err.count("\n") == 1, err
    return err


def fit_args(csv, out, *extra):
    return ["fit", str(csv), "--target", "y", "--lr", "0.5", "--epochs", "20", "--no-progress",
            "--out", str(out), *extra]


def sweep_args(csv, out, *extra):
    return ["sweep", str(csv), "--target", "y", "--lrs", "0.1,0.5", "--epochs", "20",
            "--no-progress", "--out", str(out), *extra]


def explore_args(csv, out, *extra):
    return ["explore", str(csv), "--target", "y", "--epochs", "5", "--betas", "0",
            "--lrs", "0.1,0.5", "--out", str(out), *extra]


def failing(name, exc):
    """A replacement writer that writes half a file at ``name`` (or its temporary) and raises."""
    stem, suffix = name.rsplit(".", 1)

    def hits(path):
        path = pathlib.Path(path)
        return path.name == name or (path.name.startswith(f".{stem}.") and path.name.endswith(f".{suffix}"))

    return hits, exc


@pytest.fixture
def break_write_text(monkeypatch):
    """``break_write_text(name, exc)``: Path.write_text writes half of ``name`` and raises ``exc``."""
    real = pathlib.Path.write_text

    def install(name, exc):
        hits, exc = failing(name, exc)

        def write_text(self, data, *args, **kwargs):
            if hits(self):
                real(self, data[: len(data) // 2], *args, **kwargs)
                raise exc
            return real(self, data, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "write_text", write_text)

    return install


@pytest.fixture
def break_savefig(monkeypatch):
    """``break_savefig(name, exc)``: Figure.savefig writes a few bytes of ``name`` and raises ``exc``."""
    from matplotlib.figure import Figure

    real = Figure.savefig

    def install(name, exc):
        hits, exc = failing(name, exc)

        def savefig(self, fname, *args, **kwargs):
            if hits(fname):
                pathlib.Path(fname).write_bytes(b"\x89PNG half")
                raise exc
            return real(self, fname, *args, **kwargs)

        monkeypatch.setattr(Figure, "savefig", savefig)

    return install


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ---------------------------------------------------------------------------
# the data is never an output, not even with --force


def test_sweep_out_dot_never_replaces_the_data_file_sweep_csv(tmp_path):
    """The reported case, as a user types it: the data is ./sweep.csv, --out . writes sweep.csv."""
    data = tmp_path / "sweep.csv"
    data.write_text("x,y\n0,2\n0.5,3.5\n1,5\n")
    before = listing(tmp_path)
    for force in ([], ["--force"]):
        proc = subprocess.run([sys.executable, "-m", "gdcore.cli", "sweep", "sweep.csv", "--target",
                               "y", "--out", ".", "--epochs", "5", *force],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "sweep.csv would overwrite the data file sweep.csv" in proc.stderr
        assert "not even --force" in proc.stderr
        assert listing(tmp_path) == before  # nothing written: no sweep.json either


@pytest.mark.parametrize("command", ["fit", "sweep"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_fit_and_sweep_refuse_an_output_named_like_the_data(command, force, tmp_path, capsys):
    name = {"fit": "losses.csv", "sweep": "sweep.csv"}[command]
    data = tmp_path / name
    data.write_text("x,y\n0,2\n0.5,3.5\n1,5\n")
    before = listing(tmp_path)
    args = (fit_args if command == "fit" else sweep_args)(data, tmp_path, *force)
    assert main(args) == 2
    err = one_error_line(capsys)
    assert f"{data} would overwrite the data file {data}" in err
    assert listing(tmp_path) == before


@pytest.mark.parametrize("command", ["fit", "sweep"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_out_is_the_data_file(command, force, data_csv, capsys):
    before = data_csv.read_bytes()
    args = (fit_args if command == "fit" else sweep_args)(data_csv, data_csv, *force)
    assert main(args) == 2
    assert f"--out {data_csv} would overwrite the data file {data_csv}" in one_error_line(capsys)
    assert data_csv.read_bytes() == before


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_out_inside_a_data_folder_or_glob_is_refused(force, data_csv, tmp_path, capsys):
    pytest.importorskip("dask")
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_bytes(data_csv.read_bytes())
    before = listing(folder)
    # the folder itself (results there would be read as data next time) and a folder inside it
    for out in (folder, folder / "results"):
        assert main(sweep_args(folder, out, "--no-plots", *force)) == 2
        assert f"--out {out} would be written into the data folder {folder}" in one_error_line(capsys)
        assert listing(folder) == before
    # a glob: an output that matches it would join the data
    glob = str(folder / "*.csv")
    assert main(sweep_args(glob, folder, "--no-plots", *force)) == 2
    assert f"{folder / 'sweep.csv'} matches the data files {glob}" in one_error_line(capsys)
    assert listing(folder) == before


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_explore_never_writes_the_page_over_its_data(force, data_csv, tmp_path, capsys):
    pytest.importorskip("bokeh")
    link = tmp_path / "page.html"
    link.symlink_to(data_csv)
    before = data_csv.read_bytes()
    for out in (data_csv, link):  # the file itself, or a link to it
        assert main(explore_args(data_csv, out, *force)) == 2
        assert f"--out {out} would overwrite the data file {data_csv}" in one_error_line(capsys)
        assert data_csv.read_bytes() == before
    assert link.is_symlink()


# ---------------------------------------------------------------------------
# an existing file: refused without --force (and nothing written), replaced with it


def test_fit_refuses_a_users_fit_json_and_writes_nothing(data_csv, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.json").write_text(OLD)
    assert main(fit_args(data_csv, out)) == 2
    err = one_error_line(capsys)
    assert f"{out / 'fit.json'} already exists; pass --force to replace it" in err
    assert "nothing was written" in err
    assert listing(out) == {"fit.json": OLD.encode()}  # no losses.csv, no figures either


def test_fit_force_replaces_the_files(data_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.json").write_text(OLD)
    (out / "notes.txt").write_text(OLD)  # not an output: never touched
    assert main(fit_args(data_csv, out, "--force")) == 0
    assert (out / "fit.json").read_text().startswith("{")
    assert set(listing(out)) == {"fit.json", "losses.csv", "loss_curves.png", "fit.png",
                                 "trajectory.png", "notes.txt"}
    assert (out / "notes.txt").read_text() == OLD
    capsys.readouterr()
    # a second run into the same folder: every file it would replace is named, nothing written
    before = listing(out)
    assert main(fit_args(data_csv, out)) == 2
    err = one_error_line(capsys)
    assert "fit.json" in err and "and 2 more already exist; pass --force to replace them" in err
    assert listing(out) == before


def test_sweep_refuses_an_existing_figure_before_running(data_csv, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "loss_curves.png").write_text(OLD)
    assert main(sweep_args(data_csv, out)) == 2
    err = one_error_line(capsys)
    assert f"{out / 'loss_curves.png'} already exists; pass --force" in err
    assert listing(out) == {"loss_curves.png": OLD.encode()}  # no sweep.json, no sweep.csv
    # with --no-plots the figure is not an output, so it does not stand in the way
    assert main(sweep_args(data_csv, out, "--no-plots")) == 0
    assert (out / "loss_curves.png").read_text() == OLD


def test_sweep_force_replaces_the_files(data_csv, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "sweep.csv").write_text(OLD)
    assert main(sweep_args(data_csv, out, "--force", "--no-plots")) == 0
    assert (out / "sweep.csv").read_text().startswith("lr,regime,status")
    assert set(listing(out)) == {"sweep.json", "sweep.csv"}


def test_explore_refuses_an_existing_page_before_computing(data_csv, tmp_path, capsys, monkeypatch):
    pytest.importorskip("bokeh")
    page = tmp_path / "page.html"
    page.write_text(OLD)

    def never(*args, **kwargs):
        raise AssertionError("the page was computed although it cannot be written")

    with monkeypatch.context() as m:
        m.setattr(gdcore, "explore", never)
        assert main(explore_args(data_csv, page)) == 2
    assert f"{page} already exists; pass --force to replace it" in one_error_line(capsys)
    assert page.read_text() == OLD
    assert main(explore_args(data_csv, page, "--force")) == 0
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert no_temporaries(tmp_path)


def test_explore_default_out_twice(tmp_path, capsys, monkeypatch):
    """gdcore explore writes explorer.html; a second run refuses to replace it without --force."""
    pytest.importorskip("bokeh")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "explorer.html").write_text(OLD)
    assert main(["explore", "--epochs", "5", "--betas", "0", "--lrs", "0.1,0.5"]) == 2
    assert "explorer.html already exists; pass --force" in one_error_line(capsys)
    assert (tmp_path / "explorer.html").read_text() == OLD


def test_demo_twice_into_the_same_out_refuses_and_writes_nothing(tmp_path, capsys):
    """README's first command is `gdcore demo --out demo-out`; running it again needs --force."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "animation.gif").write_text(OLD)
    assert main(["demo", "--out", str(out), "--no-progress"]) == 2
    err = one_error_line(capsys)
    assert f"{out / 'animation.gif'} already exists; pass --force to replace it" in err
    assert listing(out) == {"animation.gif": OLD.encode()}
    (out / "summary.json").write_text(OLD)
    assert main(["demo", "--out", str(out), "--no-plots"]) == 2  # without figures: summary.json
    err = one_error_line(capsys)
    assert f"{out / 'summary.json'} already exists" in err and "animation.gif" not in err
    assert set(listing(out)) == {"animation.gif", "summary.json"}


@pytest.fixture
def quick_demo(monkeypatch):
    """The demo without its second act (the MLP study, ~20 s): the files are what is tested."""
    from gdcore.cli import _demo

    monkeypatch.setattr(_demo, "_demo_nonlinear",
                        lambda args: {"sweep": None, "tracked": None, "summary": {"skipped": True}})


def test_demo_force_replaces_the_files(quick_demo, tmp_path):
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "summary.json").write_text(OLD)
    (out / "sweep.csv").write_text(OLD)
    assert main(["demo", "--out", str(out), "--no-plots", "--epochs", "20", "--force"]) == 0
    assert (out / "summary.json").read_text().startswith("{")
    assert (out / "sweep.csv").read_text().startswith("lr,regime")
    assert set(listing(out)) == {"summary.json", "sweep.csv"}


# ---------------------------------------------------------------------------
# a write that fails or is interrupted leaves the old file, and no temporary


@pytest.mark.parametrize("exc, code", [(ENOSPC, 2), (KeyboardInterrupt(), 130)])
def test_fit_failing_figure_leaves_the_old_figure(exc, code, data_csv, tmp_path, capsys,
                                                  break_savefig):
    pytest.importorskip("matplotlib")
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.png").write_text(OLD)
    break_savefig("fit.png", exc)
    assert main(fit_args(data_csv, out, "--force")) == code
    err = capsys.readouterr().err
    if code == 2:
        assert f"cannot write {out / 'fit.png'}: No space left on device" in err
        assert err.count("\n") == 1
    assert (out / "fit.png").read_text() == OLD
    assert no_temporaries(out)
    # the files written before the failure are whole
    assert (out / "fit.json").read_text().rstrip().endswith("}")


@pytest.mark.parametrize("exc, code", [(ENOSPC, 2), (KeyboardInterrupt(), 130)])
def test_sweep_failing_csv_leaves_the_old_csv(exc, code, data_csv, tmp_path, capsys,
                                              break_write_text):
    out = tmp_path / "results"
    out.mkdir()
    (out / "sweep.csv").write_text(OLD)
    break_write_text("sweep.csv", exc)
    assert main(sweep_args(data_csv, out, "--force", "--no-plots")) == code
    if code == 2:
        assert f"cannot write {out / 'sweep.csv'}: No space left on device" in one_error_line(capsys)
    assert (out / "sweep.csv").read_text() == OLD
    assert no_temporaries(out)


def test_demo_failing_summary_leaves_the_old_summary(quick_demo, tmp_path, capsys, break_write_text):
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "summary.json").write_text(OLD)
    break_write_text("summary.json", ENOSPC)
    assert main(["demo", "--out", str(out), "--no-plots", "--epochs", "20", "--force"]) == 2
    assert f"cannot write {out / 'summary.json'}" in one_error_line(capsys)
    assert (out / "summary.json").read_text() == OLD
    assert no_temporaries(out)


def test_demo_failing_gif_leaves_the_old_gif(quick_demo, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from gdcore.cli import _demo

    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "animation.gif").write_text(OLD)
    (out / "summary.json").write_text(OLD)

    def broken(self, fp, *args, **kwargs):
        pathlib.Path(fp).write_bytes(b"GIF89a half")
        raise ENOSPC

    monkeypatch.setattr(Image.Image, "save", broken)
    # the figures before the GIF are not at issue: skip rendering them (seconds)
    monkeypatch.setattr(_demo, "_save", lambda fig, out, name, written, dpi=100: written.append(name))
    assert main(["demo", "--out", str(out), "--epochs", "5", "--force", "--no-progress"]) == 2
    assert f"cannot write {out / 'animation.gif'}: No space left on device" in one_error_line(capsys)
    assert (out / "animation.gif").read_text() == OLD
    assert (out / "summary.json").read_text() == OLD  # the run stopped before it
    assert no_temporaries(out)


def test_explore_failing_page_leaves_the_old_page(data_csv, tmp_path, capsys, break_write_text):
    pytest.importorskip("bokeh")
    page = tmp_path / "page.html"
    page.write_text(OLD)
    break_write_text("page.html", ENOSPC)
    assert main(explore_args(data_csv, page, "--force")) == 2
    assert f"cannot write {page}: No space left on device" in one_error_line(capsys)
    assert page.read_text() == OLD
    assert no_temporaries(tmp_path)


# ---------------------------------------------------------------------------
# --force is offered and explained by every command that writes


@pytest.mark.parametrize("command", ["demo", "fit", "sweep", "explore"])
def test_help_explains_force(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--force" in text and "never replaced, even with --force" in text


# ---------------------------------------------------------------------------
# the Python functions that write a file: Explorer.save and plot.animate


@pytest.fixture(scope="module")
def page():
    pytest.importorskip("bokeh")
    X, y = gdcore.make_linear(n=30, seed=0)
    return gdcore.explore(X, y, epochs=5, betas=[0], lrs=[0.1, 0.5])


def test_explorer_save_refuses_an_existing_file_unless_overwrite(page, tmp_path):
    path = tmp_path / "explorer.html"
    path.write_text(OLD)
    with pytest.raises(FileExistsError, match=r"explorer\.html already exists; pass overwrite=True"):
        page.save(path)
    assert path.read_text() == OLD
    assert page.save(path, overwrite=True) == path
    assert path.read_text(encoding="utf-8") == page.html
    assert no_temporaries(tmp_path)


@pytest.mark.parametrize("exc", [ENOSPC, KeyboardInterrupt()])
def test_explorer_save_failing_leaves_the_old_file(exc, page, tmp_path, break_write_text):
    path = tmp_path / "explorer.html"
    path.write_text(OLD)
    break_write_text("explorer.html", exc)
    with pytest.raises(type(exc)):
        page.save(path, overwrite=True)
    assert path.read_text() == OLD
    assert no_temporaries(tmp_path)


@pytest.fixture(scope="module")
def runs():
    pytest.importorskip("matplotlib")
    X, y = gdcore.make_linear(n=20, seed=0)
    return X, y, [gdcore.fit(X, y, lr=0.5, epochs=3, record_weights=True)]


def test_animate_refuses_an_existing_file_unless_overwrite(runs, tmp_path, monkeypatch):
    import gdcore.plot
    from matplotlib.figure import Figure

    X, y, fits = runs
    path = tmp_path / "gd.gif"
    path.write_text(OLD)
    with monkeypatch.context() as m:  # refused before a single frame is drawn
        m.setattr(Figure, "subplots", lambda *a, **k: pytest.fail("drew frames it cannot write"))
        with pytest.raises(FileExistsError, match=r"gd\.gif already exists; pass overwrite=True"):
            gdcore.plot.animate(X, y, fits, path, dpi=20)
    assert path.read_text() == OLD
    gdcore.plot.animate(X, y, fits, path, dpi=20, overwrite=True)
    assert path.read_bytes().startswith(b"GIF8")
    assert no_temporaries(tmp_path)


def test_animate_failing_leaves_the_old_file(runs, tmp_path, monkeypatch):
    import gdcore.plot
    from PIL import Image

    X, y, fits = runs
    path = tmp_path / "gd.gif"
    path.write_text(OLD)

    def broken(self, fp, *args, **kwargs):
        pathlib.Path(fp).write_bytes(b"GIF89a half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="No space left") as info:
        gdcore.plot.animate(X, y, fits, path, dpi=20, overwrite=True)
    assert info.value.filename == str(path)  # named by the path asked for, not the temporary
    assert path.read_text() == OLD
    assert no_temporaries(tmp_path)


# ---------------------------------------------------------------------------
# the one helper every writer uses


def test_write_atomic_never_replaces_a_file_that_appears_while_writing(tmp_path):
    from gdcore._files import write_atomic

    path = tmp_path / "out.txt"

    def racing(tmp):
        tmp.write_text("new")
        path.write_text(OLD)  # another program creates the file meanwhile

    with pytest.raises(FileExistsError, match="already exists"):
        write_atomic(path, racing)
    assert path.read_text() == OLD
    assert no_temporaries(tmp_path)


def test_write_atomic_keeps_the_usual_permissions_and_refuses_inputs(tmp_path):
    from gdcore._files import OverwritesInputError, write_atomic

    path = write_atomic(tmp_path / "a.txt", lambda tmp: tmp.write_text("x"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not a temporary's 0600
    data = tmp_path / "data.csv"
    data.write_text(OLD)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    for target, reading in ((data, [data]), (hard, [data]), (tmp_path / "b.csv", [tmp_path]),
                            (tmp_path / "c.csv", [tmp_path / "*.csv"])):
        with pytest.raises(OverwritesInputError, match="would overwrite the data being read"):
            write_atomic(target, lambda tmp: tmp.write_text("x"), overwrite=True, reading=reading)
    assert data.read_text() == OLD
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "c.csv").exists()
    assert no_temporaries(tmp_path)
