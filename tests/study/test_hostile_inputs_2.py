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


# ---------------------------------------------------------------------------
# schedules: their arguments, checked when one is made, and what a callable returns

S = gdcore.schedules


@pytest.mark.parametrize("make, name", [
    (lambda: S.cosine(0.1, epochs=0), "epochs"),
    (lambda: S.cosine(0.1, epochs=-3), "epochs"),
    (lambda: S.cosine(0.1, epochs=2.5), "epochs"),
    (lambda: S.cosine(0.1, epochs=10, lr_min=-1), "lr_min"),
    (lambda: S.cosine(0.1, epochs=10, lr_min=float("nan")), "lr_min"),
    (lambda: S.cosine(0.0, epochs=10), "lr"),
    (lambda: S.step(0.1, step_size=0), "step_size"),
    (lambda: S.step(0.1, step_size=True), "step_size"),
    (lambda: S.step(0.1, step_size=5, gamma=0), "gamma"),
    (lambda: S.step(0.1, step_size=5, gamma=float("inf")), "gamma"),
    (lambda: S.step(-0.1, step_size=5), "lr"),
    (lambda: S.exponential(0.1, gamma=-0.5), "gamma"),
    (lambda: S.exponential(float("nan"), gamma=0.5), "lr"),
    (lambda: S.constant(0.0), "lr"),
    (lambda: S.constant("0.1"), "lr"),
    (lambda: S.linear_warmup(0.1, warmup=0), "warmup"),
    (lambda: S.linear_warmup(0.1, warmup=5, after=0.5), "after"),
    (lambda: S.one_cycle(0.1, epochs=0), "epochs"),
    (lambda: S.one_cycle(0.1, epochs=10, pct_start=1.5), "pct_start"),
    (lambda: S.one_cycle(0.1, epochs=10, div_factor=0), "div_factor"),
    (lambda: S.one_cycle(0.1, epochs=10, final_div_factor=-1), "final_div_factor"),
    (lambda: S.one_cycle(0.0, epochs=10), "lr_max"),
])
def test_every_schedule_checks_its_arguments_when_made(make, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{name} must be"):
        make()


def test_the_division_by_zero_schedules_are_refused_before_a_fit():
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        gdcore.fit(X, Y, lr=S.cosine(0.5, epochs=0))
    with pytest.raises(ValueError, match="step_size must be a whole number >= 1"):
        gdcore.fit(X, Y, lr=S.step(0.5, step_size=0))


def test_valid_schedules_still_give_their_values():
    assert S.one_cycle(1.0, epochs=1)(0) > 0
    assert S.one_cycle(1.0, epochs=10, pct_start=0.0)(3) > 0
    assert S.one_cycle(1.0, epochs=10, pct_start=1.0)(3) > 0
    assert S.step(np.float32(1.0), step_size=np.int64(2))(2) == pytest.approx(0.1)
    w = S.linear_warmup(1.0, warmup=2, after=lambda k: 0.5)
    assert [w(k) for k in range(4)] == [0.5, 1.0, 0.5, 0.5]


@pytest.mark.parametrize("value, kind", [
    (None, TypeError), ("0.1", TypeError), (np.array([0.1, 0.2]), TypeError), ([0.1], TypeError),
    (np.array([0.1]), TypeError),
])
def test_a_callable_schedule_that_returns_no_number_gets_the_error_of_a_constant_lr(value, kind):
    with pytest.raises(kind, match=r"the schedule's lr at epoch 0 must be"):
        gdcore.fit(X, Y, lr=lambda epoch: value)
    with pytest.raises(kind, match=r"lr must be a number"):  # the constant lr it stands for
        gdcore.fit(X, Y, lr=value)


def test_a_schedule_subclass_that_returns_none_is_caught_by_its_table():
    class Bad(S.Schedule):
        def __call__(self, epoch):
            return None if epoch == 3 else 0.1

    with pytest.raises(TypeError, match=r"the schedule's lr at epoch 3 must be a number"):
        gdcore.fit(X, Y, lr=Bad())


@pytest.mark.parametrize("lr, where", [(1e-50, "0"), (1e50, "inf")])
def test_a_schedule_whose_lr_rounds_to_0_or_inf_in_the_dtype_is_refused_like_a_constant_lr(lr, where):
    with pytest.raises(ValueError, match=rf"lr=.* rounds to {where} in float32"):
        gdcore.fit(X, Y, lr=lr, dtype="float32")
    with pytest.raises(ValueError, match=rf"epoch 2: lr=.* rounds to {where} in float32"):
        gdcore.fit(X, Y, lr=lambda k: 0.1 if k < 2 else lr, dtype="float32")
    # an lr of exactly 0 stays allowed (a schedule may pause), and float64 holds both
    gdcore.fit(X, Y, lr=lambda k: 0.1 if k < 2 else 0.0, dtype="float32", epochs=5)
    if where == "0":
        gdcore.fit(X, Y, lr=lambda k: 0.1 if k < 2 else lr, epochs=5)


def test_lr_find_whose_ramp_starts_below_the_dtype_is_refused():
    with pytest.raises(ValueError, match=r"epoch 0: lr=1e-50 rounds to 0 in float32"):
        gdcore.lr_find(X, Y, lr_min=1e-50, dtype="float32")


# ---------------------------------------------------------------------------
# pandas: bool columns next to numbers (pd.get_dummies), every numeric dtype


def _dummies_frame(pd):
    """x and one-hot columns of a category, as pd.get_dummies returns them: float64 and bool."""
    cat = np.array(list("abc"))[np.arange(20) % 3]
    return pd.get_dummies(pd.DataFrame({"x": X[:, 0], "c": cat}))


def test_get_dummies_float_and_bool_columns_are_numbers():
    pd = pytest.importorskip("pandas")
    df = _dummies_frame(pd)
    assert {str(dt) for dt in df.dtypes} == {"float64", "bool"}
    r = gdcore.fit(df, Y, lr=0.5, epochs=50)
    expect = gdcore.fit(df.to_numpy(dtype=np.float64), Y, lr=0.5, epochs=50)
    np.testing.assert_array_equal(r.weights, expect.weights)
    assert r.dtype == "float64"


def test_float32_next_to_bool_stays_float32():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": X[:, 0].astype(np.float32), "flag": np.arange(20) % 2 == 0})
    assert gdcore.fit(df, Y, lr=0.5, epochs=5).dtype == "float32"


@pytest.mark.parametrize("dtypes", [
    ("Float32", "boolean"), ("Int64", "boolean"), ("UInt8", "float32"), ("int8", "bool"),
    ("Int16", "Float64"), ("uint64", "int64"),
])
def test_every_numeric_and_bool_dtype_mix_is_read_as_numbers(dtypes):
    pd = pytest.importorskip("pandas")
    a = (np.arange(20) % 5).astype(float)
    b = (np.arange(20) % 2).astype(float)
    df = pd.DataFrame({"a": pd.array(a).astype(dtypes[0]), "b": pd.array(b).astype(dtypes[1])})
    r = gdcore.fit(df, Y, lr=0.05, epochs=20)
    np.testing.assert_allclose(r.weights, gdcore.fit(np.c_[a, b], Y, lr=0.05, epochs=20).weights,
                               rtol=1e-12)


def test_an_object_column_of_numbers_is_read_and_a_text_column_is_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": pd.Series(list(X[:, 0]), dtype=object), "one": True})
    gdcore.fit(df, Y, lr=0.5, epochs=5)
    df["town"] = ["Oslo"] * 20
    with pytest.raises(TypeError, match=r"X .*column\(s\) 'town' \(.*'Oslo'.*pandas.get_dummies"):
        gdcore.fit(df, Y, lr=0.5)


def test_na_in_a_nullable_bool_column_is_still_a_missing_value():
    pd = pytest.importorskip("pandas")
    df = _dummies_frame(pd).astype({"c_a": "boolean"})
    df.loc[3, "c_a"] = pd.NA
    with pytest.raises(ValueError, match=r"X contains 1 missing .* row 3"):
        gdcore.fit(df, Y, lr=0.5)


# ---------------------------------------------------------------------------
# y lying along a row; several lrs given to fit


@pytest.mark.parametrize("call", [gdcore.fit, gdcore.sweep, gdcore.lr_find])
def test_y_of_shape_1_by_n_suggests_ravel(call):
    kwargs = {"fit": {"lr": 0.5}, "sweep": {"lrs": [0.5]}, "lr_find": {}}[call.__name__]
    with pytest.raises(ValueError, match=r"y has shape \(1, 20\).*one row per row of X.*y\.ravel\(\)"):
        call(X, Y.reshape(1, -1), **kwargs)


def test_y_of_shape_m_by_n_suggests_the_transpose():
    with pytest.raises(ValueError, match=r"y has shape \(2, 20\).*y\.T"):
        gdcore.fit(X, np.c_[Y, 2 * Y].T, lr=0.5)
    with pytest.raises(ValueError, match=r"y has 19 rows but X has 20"):  # no guess when n differs
        gdcore.fit(X, Y[:19], lr=0.5)


@pytest.mark.parametrize("lr", [[0.1, 0.7], (0.1, 0.7), np.array([0.1, 0.7]), [0.1], np.array([[0.1]])])
def test_fit_with_a_list_of_lrs_points_at_sweep(lr):
    with pytest.raises(TypeError, match=r"lr must be a number .*one learning rate.*gdcore\.sweep"):
        gdcore.fit(X, Y, lr=lr)


def test_fit_still_takes_numpy_scalars_and_0d_arrays():
    want = gdcore.fit(X, Y, lr=0.5, epochs=5).weights
    for lr in (np.float64(0.5), np.float32(0.5), np.array(0.5)):
        np.testing.assert_array_equal(gdcore.fit(X, Y, lr=lr, epochs=5).weights, want)


# ---------------------------------------------------------------------------
# gdcore.io.read: a trailing delimiter on every line; '-' for standard input


@pytest.mark.parametrize("lazy", [False, True])
def test_a_trailing_delimiter_is_named_as_an_empty_column_name(tmp_path, lazy):
    if lazy:
        pytest.importorskip("dask")
    (tmp_path / "d.csv").write_text("x,y,\n1,2,\n2,4,\n3,6,\n")
    path = tmp_path if lazy else tmp_path / "d.csv"
    with pytest.raises(ValueError, match=r"header of .*d\.csv has an empty column name \(column 3 of "
                                         r"3.*trailing ','"):
        gdcore.io.read(path, target="y", lazy=lazy)
    # with the columns chosen the empty one is not read, and nothing is wrong
    X_, y_ = gdcore.io.read(path, target="y", features=["x"], lazy=lazy)
    np.testing.assert_array_equal(np.asarray(y_), [2, 4, 6])


def test_an_empty_name_in_the_middle_of_the_header_is_named_too(tmp_path):
    (tmp_path / "d.csv").write_text("x,,y\n1,5,2\n2,5,4\n")
    with pytest.raises(ValueError, match=r"empty column name \(column 2 of 3\)"):
        gdcore.io.read(tmp_path / "d.csv", target="y", lazy=False)


def test_read_dash_is_standard_input_read_whole(tmp_path, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x,y\n1,2\n2,4\n3,6\n")))
    X_, y_ = gdcore.io.read("-", target="y", lazy=False)
    np.testing.assert_array_equal(y_, [2, 4, 6])
    np.testing.assert_array_equal(X_, [[1, 1], [2, 1], [3, 1]])
    with pytest.raises(ValueError, match=r"'-' \(standard input\) is read whole.*lazy=False"):
        gdcore.io.read("-", target="y")


# ---------------------------------------------------------------------------
# memory: a call whose arrays would not fit is refused with the estimate and the limit


@pytest.fixture
def small_limit(monkeypatch):
    """A limit of 1 MiB, so that modest calls are refused quickly (nothing large is allocated)."""
    import gdcore._checks

    monkeypatch.setattr(gdcore._checks, "memory_limit", lambda: (1 << 20, "a limit set by the test"),
                        raising=False)


SIZE = r"would need about [\d.]+ [KMGTP]?i?B of memory \(.*\), more than the limit of "


def test_lr_find_with_enormous_steps_is_refused_with_the_size_and_the_limit():
    with pytest.raises(ValueError, match=rf"lr_find\(steps=10,000,000,000,000\) {SIZE}.*physical "
                                         r"memory.*use fewer steps") as info:
        gdcore.lr_find(X, Y, steps=10**13)
    assert gdcore._checks._size(gdcore._checks.memory_limit()[0]) in str(info.value)


def test_an_mlp_of_enormous_width_is_refused_before_it_is_initialised():
    with pytest.raises(ValueError, match=rf"the model mlp\[1000000000000\] tanh {SIZE}.*narrower"):
        gdcore.fit(X, Y, lr=0.1, model=gdcore.models.mlp(10**12))
    with pytest.raises(ValueError, match=rf"the model mlp\[10, 1000000000000\] tanh {SIZE}"):
        gdcore.stability(X, Y, model=gdcore.models.mlp((10, 10**12)))


def test_a_sweep_of_many_lrs_is_refused_above_the_limit(small_limit):
    with pytest.raises(ValueError, match=rf"2,000 run\(s\) of 200 epochs {SIZE}1 MiB \(a limit set by "
                                         r"the test\); use fewer learning rates or fewer epochs"):
        gdcore.sweep(X, Y, np.linspace(0.01, 0.5, 2000), epochs=200)
    gdcore.sweep(X, Y, np.linspace(0.01, 0.5, 20), epochs=200)  # 100 times less fits


def test_the_weight_history_and_a_long_schedule_count_too(small_limit):
    with pytest.raises(ValueError, match=r"the weights of every epoch.*drop record_weights"):
        gdcore.fit(X, Y, lr=0.1, epochs=30_000, record_weights=True)
    with pytest.raises(ValueError, match=rf"a schedule over 100,000 epochs {SIZE}"):
        gdcore.fit(X, Y, lr=gdcore.schedules.constant(0.1), epochs=100_000)


def test_the_activations_of_an_mlp_count(small_limit):
    Xn = np.linspace(-1, 1, 400)[:, None]
    with pytest.raises(ValueError, match=r"the activations, 400 rows x 300 hidden units"):
        gdcore.fit(Xn, np.sin(Xn[:, 0]), lr=0.1, model=gdcore.models.mlp(300))


def test_the_limit_is_half_the_physical_memory():
    import os

    limit, why = gdcore._checks.memory_limit()
    phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert limit == phys // 2 and "half of this machine's" in why
