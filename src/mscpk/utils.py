"""Base utilities: atomic file writing and one small LRU cache.

This module is the single owner of temporary output files in mscpk:

* :func:`atomic_path` - context manager yielding a temporary path beside the target; renamed
  onto the target on success, deleted on any error (no partial file is ever left behind);
* :func:`write_text_atomic` - one text file, atomically;
* :func:`write_all_or_nothing` - several files: every temporary file is written first, then
  all are renamed; on an error while writing, every temporary file is deleted and no target
  is touched;
* :func:`write_table` - a DataFrame as CSV or Parquet, atomically.

The final files get the normal permissions of a newly created file (``0o666 & ~umask``), not
the private ``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_path", "write_text_atomic", "write_all_or_nothing", "write_table", "save_table", "LRUCache", "single_threaded_blas",
           "new_file_mode"]

_MAX_TRIES = 100


def _current_umask() -> int:
    """The process umask, read without changing it where possible (Linux ``/proc``);
    otherwise by the classic ``os.umask(0)`` / ``os.umask(old)`` pair."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0)
    os.umask(old)
    return old


def new_file_mode() -> int:
    """Permission bits of a newly created regular file: ``0o666 & ~umask``."""
    return 0o666 & ~_current_umask()


def _make_temp(path: Path) -> Path:
    """Create an empty temporary file beside ``path`` (exclusively, not following links)."""
    folder = path.parent if str(path.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_MAX_TRIES):
        tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary file name beside {path}")


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _commit(tmp: Path, path: Path, mode: int) -> None:
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on any error
    delete it, so no partial file is ever left behind.

    The temporary name ends in ``.tmp``; writers that infer the file type from the suffix need
    an explicit format. The final file has mode ``0o666 & ~umask``.
    """
    path = Path(path)
    tmp = _make_temp(path)
    try:
        yield tmp
        _commit(tmp, path, new_file_mode())
    except BaseException:
        _discard(tmp)
        raise


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding) as fh:
            fh.write(text)
    return path


def write_all_or_nothing(items: list[tuple[Path, Callable[[Path], None]]]) -> list[Path]:
    """Write several files: ``writer(temp_path)`` for every ``(target, writer)`` first, then
    rename every temporary file onto its target (in the order given).

    If any writer (or temporary-file creation) fails, every temporary file is deleted, no
    target is touched, and the exception propagates. The renames themselves are each atomic;
    they only fail in exotic situations (e.g. the folder vanishing mid-way), in which case the
    remaining temporary files are still deleted.
    """
    items = [(Path(target), writer) for target, writer in items]
    temps: list[tuple[Path, Path]] = []
    try:
        for target, writer in items:
            tmp = _make_temp(target)
            temps.append((tmp, target))
            writer(tmp)
        mode = new_file_mode()
        while temps:
            tmp, target = temps[0]
            _commit(tmp, target, mode)
            temps.pop(0)
    except BaseException:
        for tmp, _ in temps:
            _discard(tmp)
        raise
    return [target for target, _ in items]


def save_table(df, path: str | Path, suffix: str) -> None:
    """Write a DataFrame to ``path`` as Parquet (``suffix`` ".parquet") or CSV (not atomic)."""
    if suffix.lower() == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def write_table(df, path: str | Path) -> Path:
    """Write a DataFrame as CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        save_table(df, tmp, path.suffix)
    return path


class LRUCache:
    """A small thread-safe least-recently-used cache (the one cache of built models,
    propagators and decompositions): ``get(key)`` -> value or None, ``put(key, value)``."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


_BLAS_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                 ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                 ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                 ("openblas_get_num_threads", "openblas_set_num_threads"))


@contextmanager
def single_threaded_blas():
    """Run the block with OpenBLAS on one thread (best effort; restored afterwards).

    The batch runs its own threads over chunks; OpenBLAS threads on top of them (its
    small-matrix GEMMs would use both cores) oversubscribe the machine and, when another
    process is busy, spin-wait for seconds. Linux + OpenBLAS only; otherwise a no-op.
    """
    restore = []
    try:
        import ctypes

        paths = set()
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "openblas" in line.lower() and "/" in line:
                    paths.add(line[line.index("/"):].strip())
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for get_name, set_name in _BLAS_SYMBOLS:
                try:
                    get, put = getattr(lib, get_name), getattr(lib, set_name)
                except AttributeError:
                    continue
                get.restype = ctypes.c_int
                n_old = int(get())
                put(ctypes.c_int(1))
                restore.append((put, n_old))
                break
    except Exception:  # noqa: BLE001 -- an optimisation only: never fail because of it
        pass
    try:
        yield
    finally:
        for put, n_old in restore:
            put(ctypes.c_int(n_old))
