"""Hostile input, second part (issue 20, "Never destroy a user's data, never give a silent wrong
answer", section 3): a clear ValueError/TypeError naming the argument and the fix, or the right
answer, never a raw traceback from deep inside (ZeroDivisionError, KeyError, MemoryError)."""

from __future__ import annotations

import numpy as np
import pytest

import gdcore
import gdcore.io

X, Y = gdcore.make_linear(n=20, seed=0)


def write_csv(path, header, rows, sep=","):
    path.write_text("\n".join([sep.join(header)] + [sep.join(map(str, r)) for r in rows]) + "\n")
    return path


# ---------------------------------------------------------------------------
# gdcore.io.read: the delimiter


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("sep", ["ab", "", "\n", '"', 9])
def test_read_refuses_a_sep_that_is_not_one_character(tmp_path, sep, lazy):
    if lazy:
        pytest.importorskip("dask")
    path = write_csv(tmp_path / "d.csv", ["x", "y"], [(1, 2), (2, 4)])
    with pytest.raises(ValueError, match=r"sep must be one character .*got"):
        gdcore.io.read(path, target="y", sep=sep, lazy=lazy)


def test_read_takes_a_tab(tmp_path):
    path = write_csv(tmp_path / "d.tsv", ["x", "y"], [(1, 2), (2, 4), (3, 6)], sep="\t")
    X_, y_ = gdcore.io.read(path, target="y", sep="\t", lazy=False)
    np.testing.assert_array_equal(y_, [2, 4, 6])
