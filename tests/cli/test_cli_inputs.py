"""The ``gdcore`` command on awkward input (issue 20, section 3): one line and exit code 2, or
the right answer, never a Python traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def run_cli(*args, input=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "gdcore.cli", *map(str, args)],
                          capture_output=True, text=True, input=input, cwd=cwd, timeout=120)


def assert_one_line_error(proc, *words):
    """Exit code 2, one line on stderr starting 'gdcore: error:', no traceback, every word in it."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdcore: error:"), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def write_linear(path, sep=",", n=30, trailing=""):
    """y = 3 a - 2 b + 1 exactly, as a CSV with delimiter ``sep``."""
    a = np.linspace(0.0, 1.0, n)
    b = np.cos(5 * a)
    rows = [sep.join(["a", "b", "y"]) + trailing]
    rows += [sep.join(f"{v:.17g}" for v in (ai, bi, 3 * ai - 2 * bi + 1)) + trailing
             for ai, bi in zip(a, b)]
    path.write_text("\n".join(rows) + "\n")
    return path


# ---------------------------------------------------------------------------
# --sep


@pytest.mark.parametrize("typed", ["\\t", "\\\\t", "tab", "TAB", "\t"])
def test_sep_tab_as_typed_in_a_shell_reads_a_tab_separated_file(tmp_path, typed):
    data = write_linear(tmp_path / "d.tsv", sep="\t")
    proc = run_cli("fit", data, "--target", "y", "--lr", "0.1", "--sep", typed)
    assert proc.returncode == 0, proc.stderr
    assert "features a, b + bias column" in proc.stdout


@pytest.mark.parametrize("cmd", ["fit", "sweep", "explore"])
@pytest.mark.parametrize("sep", ["ab", "", ";;", '"'])
def test_a_sep_that_is_not_one_character_is_one_line(tmp_path, cmd, sep):
    data = write_linear(tmp_path / "d.csv")
    extra = {"fit": ["--lr", "0.1"], "sweep": ["--lrs", "0.1,0.2"], "explore": []}[cmd]
    proc = run_cli(cmd, data, "--target", "y", "--sep", sep, *extra)
    assert_one_line_error(proc, "--sep", "one character")


# ---------------------------------------------------------------------------
# a folder of CSV files that do not share their columns


def test_a_folder_whose_files_have_different_columns_is_one_line(tmp_path):
    pytest.importorskip("dask")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text("x,y\n1,2\n2,4\n")
    (tmp_path / "parts" / "b.csv").write_text("u,y\n1,2\n2,4\n")
    proc = run_cli("fit", tmp_path / "parts", "--target", "y", "--lr", "0.1")
    assert_one_line_error(proc, "b.csv", "'u'", "'x'", "a.csv")


# ---------------------------------------------------------------------------
# a trailing delimiter on every line; '-' for standard input


def test_a_trailing_comma_on_every_line_is_named_as_an_empty_column_name(tmp_path):
    data = write_linear(tmp_path / "d.csv", trailing=",")
    proc = run_cli("fit", data, "--target", "y", "--lr", "0.1")
    assert_one_line_error(proc, "empty column name", "column 4 of 4", "trailing ','")
    ok = run_cli("fit", data, "--target", "y", "--lr", "0.1", "--features", "a,b")
    assert ok.returncode == 0, ok.stderr


def test_dash_reads_the_csv_from_standard_input(tmp_path):
    data = write_linear(tmp_path / "d.csv")
    from_file = run_cli("fit", data, "--target", "y", "--lr", "0.3", "--epochs", "50")
    piped = run_cli("fit", "-", "--target", "y", "--lr", "0.3", "--epochs", "50",
                    input=data.read_text())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.replace("data: -,", f"data: {data},") == from_file.stdout
    empty = run_cli("fit", "-", "--target", "y", "--lr", "0.3", input="")
    assert_one_line_error(empty, "standard input", "empty")


# ---------------------------------------------------------------------------
# memory


@pytest.mark.parametrize("cmd, extra", [("fit", ["--lr", "0.1"]), ("sweep", ["--lrs", "0.1,0.2"])])
def test_an_mlp_too_wide_for_memory_is_one_line_with_the_size_and_the_limit(tmp_path, cmd, extra):
    data = write_linear(tmp_path / "d.csv")
    proc = run_cli(cmd, data, "--target", "y", "--model", "mlp:1000000000000", *extra)
    assert_one_line_error(proc, "mlp[1000000000000]", "would need about", "PiB",
                          "more than the limit of", "physical memory", "narrower")
