"""Write files so that a failure never leaves a half-written result behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    If the body raises, the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> with atomic_path(tmp / "table.csv") as tmp_file:  # doctest: +SKIP
    ...     frame.to_csv(tmp_file)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are ordinary readable files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def output_folder(path: str | Path, what: str = "--out") -> Path:
    """``path`` as an output folder, created if missing.

    Raises
    ------
    DataError
        ``path`` exists and is a file (``what`` names the option or argument in the message).
    """
    from eih_ml.errors import DataError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DataError(
            f"{what} must be a directory, but {str(out)!r} is a file; pass a folder path "
            "(it is created if missing)."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out
