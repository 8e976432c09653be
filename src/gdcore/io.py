"""Reading data too large for memory: CSV or Parquet files into row-chunked dask arrays."""

from __future__ import annotations

import pathlib

__all__ = ["read"]


def read(path, *, target, features=None, bias=True, blocksize="64MB", return_names=False):
    """Read a CSV/Parquet file, glob or directory into row-chunked dask arrays ``(X, y)``.

    Nothing is materialised: the files are read chunk by chunk when a
    computation (``gdcore.fit(X, y, backend="dask")``) needs them.  Only the
    row count of each chunk is computed up front (dask needs it for the array
    shapes).

    Parameters
    ----------
    path : str or pathlib.Path
        A directory (all ``*.csv`` or all ``*.parquet`` files in it; a folder
        holding both is refused, pass a glob), a glob such as
        ``"data/part-*.csv"``, or one file.
    target : str
        Column holding y.
    features : list of str, optional
        Columns of X (default: every column except ``target``, which must not
        be among them).
    bias : bool, default True
        Append a column of ones (the intercept).
    blocksize : str or int
        Size of the CSV chunks dask reads.
    return_names : bool
        Also return the column names of X (``"bias"`` last when added).

    Returns
    -------
    X : dask.array.Array, shape (n, d)
    y : dask.array.Array, shape (n,)

    Raises
    ------
    FileNotFoundError, ValueError
        No such files, a missing column, or a non-numeric column.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, gdcore, gdcore.io
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     x = np.linspace(i, i + 1, 50)
    ...     _ = (folder / f"part-{i}.csv").write_text(
    ...         "x,y\\n" + "\\n".join(f"{a},{3 * a + 2}" for a in x))
    >>> X, y = gdcore.io.read(folder, target="y")
    >>> X.shape, X.numblocks[0]
    ((150, 2), 3)
    >>> r = gdcore.fit(X, y, lr=0.2, backend="dask", epochs=3000, rtol=1e-10)
    >>> np.round(r.weights, 4)
    array([3., 2.])
    """
    if features is not None and target in features:
        raise ValueError(
            f"column {target!r} is the target and also in features; a column cannot predict "
            "itself: leave it out of features."
        )
    p = pathlib.Path(path)
    if p.is_dir():
        parquet, csv = sorted(p.glob("*.parquet")), sorted(p.glob("*.csv"))
        if parquet and csv:
            raise ValueError(
                f"the folder {p} holds both CSV ({len(csv)}) and Parquet ({len(parquet)}) files; "
                f"pass a glob that picks one kind, e.g. {str(p / '*.parquet')!r} or "
                f"{str(p / '*.csv')!r}."
            )
        files = parquet or csv
        if not files:
            raise FileNotFoundError(f"no *.csv or *.parquet files in the folder {p}.")
    else:
        files = sorted(p.parent.glob(p.name)) if any(ch in p.name for ch in "*?[") else [p]
        missing = [f for f in files if not f.exists()]
        if not files or missing:
            raise FileNotFoundError(f"no data file at {path}.")
    import dask.array as da
    import dask.dataframe as dd

    names = [str(f) for f in files]
    if files[0].suffix == ".parquet":
        df = dd.read_parquet(names)
    else:
        df = dd.read_csv(names, blocksize=blocksize)
    columns = list(df.columns)
    if target not in columns:
        raise ValueError(f"column {target!r} not found in {path}; columns are: {', '.join(columns)}.")
    features = [c for c in columns if c != target] if features is None else list(features)
    missing = [c for c in features if c not in columns]
    if missing:
        raise ValueError(
            f"feature column(s) {', '.join(map(repr, missing))} not found in {path}; columns are: "
            f"{', '.join(columns)}."
        )
    for c in [*features, target]:
        kind = df[c].dtype.kind
        if kind not in "biuf":
            raise ValueError(
                f"column {c!r} in {path} is not numeric (dtype {df[c].dtype}); convert or drop it."
            )
    X = df[features].astype("float64").to_dask_array(lengths=True)
    y = df[target].astype("float64").to_dask_array(lengths=True)
    if bias:
        ones = da.ones((X.shape[0], 1), chunks=(X.chunks[0], 1), dtype=X.dtype)
        X = da.concatenate([X, ones], axis=1)
    if return_names:
        return X, y, features + (["bias"] if bias else [])
    return X, y
