"""Files written whole or not at all (result files, the ledger's manifest and archives, the compiler cache), and
private files and folders (the service's data directory, databases and key files: owner only, created so)."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["private_dir", "private_file", "write_atomic"]

log = logging.getLogger(__name__)
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create the folder ``path`` (and missing parents) readable by its owner only (0700, created so); an existing
    one open to group or others is tightened to 0700, with a warning.

    Example:
        >>> import tempfile
        >>> folder = private_dir(Path(tempfile.mkdtemp()) / "data")
        >>> oct(folder.stat().st_mode & 0o777)
        '0o700'
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)  # the mode is applied by mkdir(2), minus the umask
    _tighten(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create the file ``path`` empty with mode 0600 if it does not exist (``O_CREAT | O_EXCL``: never a moment
    with a wider mode); an existing one open to group or others is tightened to 0600, with a warning. SQLite
    gives a database's ``-wal`` and ``-shm`` files the database file's mode."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        log.warning("%s was mode %o (readable by others): now %o", path, current, mode)
        path.chmod(current & mode)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that a reader or a crash sees the old content or the new,
    never a part: temporary file in the same folder, fsync, ``os.replace``, fsync of the folder.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_atomic(folder / "a.json", "{}\\n")
        >>> (folder / "a.json").read_text()
        '{}\\n'
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
