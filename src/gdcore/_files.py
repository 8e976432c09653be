"""Writing a file without destroying what was there.

Every file gdcore writes (the command line's results, :meth:`Explorer.save`,
:func:`gdcore.plot.animate`) goes through :func:`write_atomic`: it refuses to
replace an existing file unless asked (``overwrite=True``), never writes over a
file the caller is reading (``reading``: the data), and writes to a temporary
name in the same folder that is renamed into place only once complete, so an
interrupted or failing write leaves either the old file or the whole new one,
and no temporary behind.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib
import secrets

__all__ = ["OverwritesInputError", "check_target", "reads", "write_atomic"]


class OverwritesInputError(ValueError):
    """An output would replace (or land among) the data being read; never allowed."""


def _is_glob(path) -> bool:
    return any(ch in pathlib.Path(path).name for ch in "*?[")


def reads(path, reading):
    """The entry of ``reading`` that writing ``path`` would destroy or join, or None.

    ``reading`` holds files, folders or globs (``data/part-*.csv``): a file
    clashes when ``path`` is the same file (through links, too); a folder when
    ``path`` lies in it or below it; a glob when ``path`` matches it (it would
    join the data set next time).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from gdcore._files import reads
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> data = folder / "data.csv"
    >>> _ = data.write_text("x,y\\n1,2\\n")
    >>> reads(folder / "data.csv", [data]) == data
    True
    >>> reads(folder / "sweep.csv", [data]) is None
    True
    >>> reads(folder / "sweep.csv", [folder / "*.csv"]) == folder / "*.csv"
    True
    """
    path = pathlib.Path(path)
    where = path.resolve()
    for entry in reading:
        src = pathlib.Path(entry)
        if _is_glob(src):
            if where.parent == src.parent.resolve() and fnmatch.fnmatch(where.name, src.name):
                return src
        elif src.is_dir():
            if where.is_relative_to(src.resolve()):
                return src
        elif path.exists() and src.exists() and os.path.samefile(path, src):
            return src
        elif where == src.resolve():
            return src
    return None


def check_target(path, *, overwrite=False, reading=()) -> pathlib.Path:
    """Check that ``path`` may be written; return it as a :class:`pathlib.Path`.

    Raises
    ------
    OverwritesInputError
        ``path`` is (or lies in) one of ``reading``; ``overwrite`` does not allow it.
    IsADirectoryError
        ``path`` is a folder.
    FileNotFoundError
        The folder of ``path`` does not exist.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from gdcore._files import check_target
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> check_target(path) == path
    True
    >>> _ = path.write_text("mine")
    >>> check_target(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: .../out.txt already exists; pass overwrite=True to replace it
    """
    path = pathlib.Path(path)
    src = reads(path, reading)
    if src is not None:
        raise OverwritesInputError(f"{path} would overwrite the data being read ({src}); "
                                   "write it somewhere else")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass the name of a file")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it or write "
                                "somewhere else")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    return path


def write_atomic(path, write, *, overwrite=False, reading=()) -> pathlib.Path:
    """Write a file through ``write(tmp)`` under a temporary name, then rename it to ``path``.

    ``write`` receives the temporary path (same folder, same suffix, so a
    writer that reads the format from the suffix still works) and must write
    the whole file there.  Only then is it renamed into place (``os.replace``,
    atomic on one file system): an exception or an interrupt in ``write``
    leaves ``path`` as it was and removes the temporary.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    write : callable
        ``write(tmp_path)`` writes the content to ``tmp_path`` (a :class:`pathlib.Path`).
    overwrite : bool, default False
        Replace ``path`` if it exists (else ``FileExistsError``, and the
        existing file is not touched, even if it appears while writing).
    reading : sequence of paths
        Files, folders or globs being read: ``path`` must not be, or lie in,
        any of them, whatever ``overwrite`` says.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OverwritesInputError, IsADirectoryError, FileNotFoundError, FileExistsError
        As :func:`check_target`, before anything is written.
    OSError
        The file could not be written (named by ``path``, not the temporary).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from gdcore._files import write_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = write_atomic(path, lambda tmp: tmp.write_text("first"))
    >>> _ = write_atomic(path, lambda tmp: tmp.write_text("second"), overwrite=True)
    >>> path.read_text()
    'second'
    >>> def broken(tmp):
    ...     tmp.write_text("half a fi")
    ...     raise RuntimeError("disk full")
    >>> write_atomic(path, broken, overwrite=True)
    Traceback (most recent call last):
    ...
    RuntimeError: disk full
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('second', ['notes.txt'])
    """
    path = check_target(path, overwrite=overwrite, reading=reading)
    tmp = _reserve(path)
    try:
        try:
            write(tmp)
            _fsync(tmp)
            if overwrite:
                os.replace(tmp, path)
            else:
                _no_clobber_rename(tmp, path)
        except OSError as exc:
            if exc.filename is not None and os.fspath(exc.filename) == os.fspath(tmp):
                raise type(exc)(exc.errno, exc.strerror, str(path)) from None
            raise
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return path


def _reserve(path: pathlib.Path) -> pathlib.Path:
    """Create an empty temporary beside ``path`` (the umask's permissions) and return its name."""
    while True:
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        os.close(fd)
        return tmp


def _fsync(tmp: pathlib.Path):
    """Put the temporary's content on disk before it takes the place of the old file."""
    fd = os.open(tmp, os.O_RDWR)
    try:
        os.fsync(fd)
    except OSError as exc:
        import errno

        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _no_clobber_rename(tmp: pathlib.Path, path: pathlib.Path):
    """Move ``tmp`` to ``path`` unless ``path`` exists by then (a hard link fails if it does)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
    except OSError:  # no hard links on this file system: check, then rename
        if os.path.lexists(path):
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)
        return
    tmp.unlink()
