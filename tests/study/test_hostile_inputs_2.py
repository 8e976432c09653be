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


# ---------------------------------------------------------------------------
# gdcore.io.read: a folder of files that do not share their columns


@pytest.mark.parametrize("second", [
    (["x", "z", "y"], [(1, 3, 2), (2, 3, 4)]),  # one column more: z would be dropped silently
    (["u", "y"], [(1, 2), (2, 4)]),  # x missing: a pandas KeyError traceback
    (["x", "z"], [(1, 2), (2, 4)]),  # the target missing
])
def test_read_folder_of_csvs_with_different_columns_names_the_file(tmp_path, second):
    pytest.importorskip("dask")
    write_csv(tmp_path / "a.csv", ["x", "y"], [(1, 2), (2, 4)])
    write_csv(tmp_path / "b.csv", *second)
    with pytest.raises(ValueError, match=r"b\.csv.*a\.csv") as info:
        gdcore.io.read(tmp_path, target="y")
    diff = sorted(set(second[0]) ^ {"x", "y"})
    assert all(repr(c) in str(info.value) for c in diff), str(info.value)


def test_read_folder_of_csvs_with_the_columns_in_another_order_reads_them_by_name(tmp_path):
    pytest.importorskip("dask")
    write_csv(tmp_path / "a.csv", ["x", "y"], [(1, 2), (2, 4)])
    write_csv(tmp_path / "b.csv", ["y", "x"], [(20, 10), (40, 20)])
    X_, y_ = gdcore.io.read(tmp_path, target="y", bias=False)
    np.testing.assert_array_equal(np.asarray(X_)[:, 0], [1, 2, 10, 20])
    np.testing.assert_array_equal(np.asarray(y_), [2, 4, 20, 40])


def test_read_folder_of_parquet_files_with_different_columns_names_the_file(tmp_path):
    pytest.importorskip("dask")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame({"x": [1.0, 2.0], "y": [2.0, 4.0]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"x": [1.0, 2.0], "z": [1.0, 1.0], "y": [2.0, 4.0]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b\.parquet.*'z'.*a\.parquet"):
        gdcore.io.read(tmp_path, target="y")
