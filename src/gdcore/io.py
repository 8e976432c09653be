"""Reading data too large for memory: CSV or Parquet files into row-chunked dask arrays."""

from __future__ import annotations

import csv
import math
import pathlib

__all__ = ["read"]

_MISSING_CELLS = {"", "nan", "na", "n/a", "null", "none"}


def read(path, *, target, features=None, bias=True, blocksize="64MB", return_names=False,
         sep=",", lazy=True):
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
        ``"data/part-*.csv"``, or one file.  ``"-"`` is standard input, read
        whole (``lazy=False`` only; a file named ``-`` is ``"./-"``).
    target : str
        Column holding y.
    features : list of str, optional
        Columns of X (default: every column except ``target``, which must not
        be among them).  By default a CSV header with an empty column name
        (a delimiter at the end of every line) is a ``ValueError``.
    bias : bool, default True
        Append a column of ones (the intercept).
    blocksize : str or int
        Size of the CSV chunks dask reads.
    return_names : bool
        Also return the column names of X (``"bias"`` last when added).
    sep : str, default ","
        The delimiter of the CSV files: one character (``"\\t"`` for a tab).
    lazy : bool, default True
        ``False`` reads one CSV file whole into numpy arrays instead, checking
        every cell (a missing, text or infinite value is a ``ValueError``
        naming its column and line): what ``gdcore fit FILE.csv`` does.

    Returns
    -------
    X : dask.array.Array (numpy.ndarray with ``lazy=False``), shape (n, d)
    y : dask.array.Array (numpy.ndarray with ``lazy=False``), shape (n,)

    Raises
    ------
    FileNotFoundError, ValueError
        No such files, a missing column, a non-numeric column, or a ``sep``
        that is not one character.

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
    _check_sep(sep)
    if str(path) == "-" and lazy:
        raise ValueError("'-' (standard input) is read whole into memory: pass lazy=False, or save "
                         "the data to a file or folder to read it chunk by chunk.")
    if not lazy:
        import numpy as np

        rows, y, names = _read_csv_file(path, target, features, sep=sep)
        X = np.asarray(rows, dtype=np.float64).reshape(len(y), len(names))
        if bias:
            X = np.hstack([X, np.ones((len(y), 1))])
            names = names + ["bias"]
        y = np.asarray(y, dtype=np.float64)
        return (X, y, names) if return_names else (X, y)
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
    first = _check_same_columns(files, sep)
    if features is None and files[0].suffix != ".parquet":
        _check_names(first, files[0], sep)
    import dask.array as da
    import dask.dataframe as dd

    names = [str(f) for f in files]
    if files[0].suffix == ".parquet":
        df = dd.read_parquet(names)
    else:
        df = dd.read_csv(names, blocksize=blocksize, sep=sep)
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


def _columns_of(path, sep):
    """The column names of one CSV file (its header row) or Parquet file (its schema)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        return [c for c in schema.names if c not in index]  # an index stored by pandas is no column
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh, delimiter=sep), None)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file; save it as CSV (UTF-8)") from None
    except csv.Error as exc:
        raise ValueError(f"{path} is not a readable CSV file (line 1: {exc})") from None
    if header is None:
        raise ValueError(f"{path} is empty; every file needs a header row of column names")
    return header


def _check_same_columns(files, sep):
    """Every file of a folder or glob has the columns of the first (in any order: they are read by name).

    Returns the first file's columns.

    A file with a column more would have it dropped without a word, one with a
    column less ends in a pandas KeyError deep inside dask: both are a
    ValueError naming the file and the columns that differ.
    """
    first = _columns_of(files[0], sep)
    for f in files[1:]:
        cols = _columns_of(f, sep)
        extra = [c for c in cols if c not in first]
        lacks = [c for c in first if c not in cols]
        if extra or lacks:
            what = " and ".join(part for part in (
                extra and f"has the extra column(s) {', '.join(map(repr, extra))}",
                lacks and f"lacks the column(s) {', '.join(map(repr, lacks))}") if part)
            raise ValueError(
                f"the files do not all have the same columns: {f} {what} compared with {files[0]} "
                f"(columns {', '.join(first)}); give every file the same header row, or pass a "
                "glob that picks only files that agree."
            )
    return first


def _check_names(header, path, sep):
    """A header whose columns are all read (no ``features``) must name every one of them.

    The usual cause of an empty name is a delimiter at the end of every line:
    the empty column would be read as missing values (or, by pandas, as a
    column ``'Unnamed: 2'`` of NaN).
    """
    empty = [j for j, h in enumerate(header) if not h.strip()]
    if empty:
        j, k = empty[0] + 1, len(header)
        why = f": a trailing {sep!r} at the end of every line?" if j == k else ""
        raise ValueError(
            f"the header of {path} has an empty column name (column {j} of {k}{why}); remove the "
            "trailing delimiter or name the column, or choose the columns to read (--features)."
        )


def _check_sep(sep):
    """``sep`` must be one character the csv module can split on (not a newline or a quote)."""
    if not isinstance(sep, str) or len(sep) != 1 or sep in '\r\n"':
        raise ValueError(
            f"sep must be one character such as ',' or ';' (a tab: '\\t'), got {sep!r}; a "
            "newline or '\"' cannot be a delimiter."
        )


def _stdin():
    """Standard input, read whole, as a text stream for the csv module."""
    import io
    import sys

    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        raise ValueError("standard input is not UTF-8 text; pipe in a CSV file saved as UTF-8") from None


def _read_csv_file(path, target, features=None, sep=","):
    """Read ``target`` and ``features`` columns of one CSV file as float lists.

    Returns ``(X_rows, y, feature_names)``.  Raises ``FileNotFoundError`` or
    ``ValueError`` with a one-line message naming the file, column and row on
    any problem (the command line prints it as it is).
    """
    if str(path) == "-":
        fh, path = _stdin(), "standard input"
    else:
        try:
            fh = open(path, newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            raise FileNotFoundError(f"file {path} not found; pass the path of a CSV file with a header row") from None
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        reader = csv.reader(fh, delimiter=sep)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise ValueError(f"{path} is empty; it needs a header row of column names and "
                                 "at least one row of numbers")
            header = [h.strip() for h in header]
            if features is None:
                _check_names(header, path, sep)
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise ValueError(f"{path} has duplicate column names ({', '.join(dupes)}); "
                                 "rename them so every column is unique")
            columns = ", ".join(header)

            def index(name, option):
                if name not in header:
                    hint = "" if len(header) > 1 else f" (is the delimiter {sep!r} right? see --sep)"
                    raise ValueError(f"column {name!r} ({option}) not found in {path}; "
                                     f"columns are: {columns}{hint}")
                return header.index(name)

            t_idx = index(target, "--target")
            if features is None:
                features = [h for h in header if h != target]
                if not features:
                    raise ValueError(f"{path} has no column besides the target {target!r}; "
                                     "add feature columns")
            else:
                if target in features:
                    raise ValueError(f"column {target!r} is both --target and in --features; "
                                     "a column cannot predict itself")
                if len(set(features)) != len(features):
                    raise ValueError(f"--features lists a column twice: {', '.join(features)}")
            f_idx = [index(f, "--features") for f in features]
            used = [(t_idx, target)] + list(zip(f_idx, features))
            X, y = [], []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                line = reader.line_num
                if len(row) != len(header):
                    raise ValueError(
                        f"line {line} of {path} has {len(row)} field{'s' if len(row) != 1 else ''} "
                        f"but the header has {len(header)}; check the delimiter (--sep) and quoting"
                    )
                values = []
                for j, name in used:
                    cell = row[j].strip()
                    where = f"column {name!r}, row {len(y) + 1} (line {line}) of {path}"
                    if cell.lower() in _MISSING_CELLS:
                        raise ValueError(f"missing value (NaN) in {where}; fill it in or drop "
                                         "that row")
                    try:
                        v = float(cell)
                    except ValueError:
                        raise ValueError(
                            f"non-numeric value {cell!r} in {where}; convert the column to numbers "
                            "or leave it out with --features"
                        ) from None
                    if math.isnan(v):
                        raise ValueError(f"missing value (NaN) in {where}; fill it in or drop "
                                         "that row")
                    if math.isinf(v):
                        raise ValueError(f"infinite value {cell!r} in {where}; replace it by a "
                                         "finite number or drop that row")
                    values.append(v)
                y.append(values[0])
                X.append(values[1:])
        except csv.Error as exc:
            raise ValueError(f"{path} is not a readable CSV file (line {reader.line_num}: {exc})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a UTF-8 text file; save it as CSV (UTF-8)") from None
    if not y:
        raise ValueError(f"{path} has a header but no data rows; add at least one row of numbers")
    return X, y, list(features)
