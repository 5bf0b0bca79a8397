"""What the store hands out (frozen dataclasses, no database objects) and the codecs of its
blobs: tables as Parquet bytes, names checked before they become file names."""

from __future__ import annotations

import hashlib
import io
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mscpk.errors import StoreError

if TYPE_CHECKING:  # pandas is imported when a table is encoded or decoded
    import pandas as pd

STATUSES = ("queued", "running", "done", "failed")
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_NAME = re.compile(r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,199}$")


@dataclass(frozen=True)
class User:
    """A user of the store (never the password or its hash)."""

    id: int
    name: str


@dataclass(frozen=True)
class RunInfo:
    """One stored run: what produced it (kind, scenario, inputs, mscpk version) and its status.

    Times are timezone-aware UTC; ``progress`` is a fraction 0-1; ``timings`` maps a step to
    its wall time [s].
    """

    id: int
    kind: str
    status: str
    scenario_name: str | None
    scenario_hash: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    user_id: int | None
    project_id: int | None
    error: str | None
    progress: float
    message: str | None
    mscpk_version: str
    inputs: dict = field(default_factory=dict)
    timings: dict | None = None
    heartbeat_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class ProjectInfo:
    """A project: its runs are seen by its members (user names, the owner first)."""

    id: int
    name: str
    owner_id: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyInfo:
    """Study data imported by a run: the file's name and sha256, the rows accepted and excluded."""

    name: str
    sha256: str
    n_accepted: int
    n_excluded: int


@dataclass(frozen=True)
class StudyImport:
    """Study data to store with a run: ``accepted`` rows and ``excluded`` rows with their
    reasons (columns ROW, COLUMN, VALUE, REASON), and the sha256 of the file read."""

    name: str
    sha256: str
    accepted: pd.DataFrame
    excluded: pd.DataFrame


def sha256(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a text's UTF-8 bytes.

    >>> sha256("")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def scenario_names(toml_text: str) -> tuple[str | None, str | None]:
    """(scenario name, product name) read from a scenario's TOML text; (None, None) when the
    text is not TOML (the store keeps any text; the run checks it).

    >>> scenario_names('name = "a"\\n[product]\\nname = "b"\\n')
    ('a', 'b')
    """
    try:
        doc = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError:
        return None, None
    product = doc.get("product")
    name = doc.get("name")
    pname = product.get("name") if isinstance(product, dict) else None
    return (str(name) if name is not None else None), (str(pname) if pname is not None else None)


def check_kind(kind: object) -> str:
    """A run kind: lower-case letters, digits, "_" or "-", at most 40 characters."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise StoreError(f"run kind {kind!r}: not allowed; use lower-case letters, digits, '_' or '-' "
                         "(e.g. simulate, fit), at most 40 characters")
    return kind


def check_name(name: object, what: str) -> str:
    """A table or file name, safe as a file name in an export folder: 1 to 200 characters,
    no ``/``, ``\\`` or control character, not starting with a dot or a space, no ``..``.

    >>> check_name("fig (1).png", "file")
    'fig (1).png'
    """
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name or name != name.strip():
        raise StoreError(f"{what} name {name!r}: not allowed; give 1 to 200 characters without '/', "
                         "'\\', control characters or '..', not starting with '.' or a space")
    return name


def check_fraction(value: object) -> float:
    """A progress fraction in [0, 1]."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 <= f <= 1.0:
        raise StoreError(f"progress {value!r}: must be a number from 0 to 1")
    return f


def to_parquet(df, what: str) -> bytes:
    """A DataFrame as Parquet bytes (its index is not kept)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise StoreError(f"{what}: a pandas DataFrame is needed, not {type(df).__name__}")
    buf = io.BytesIO()
    try:
        df.to_parquet(buf, index=False, engine="pyarrow")
    except (ValueError, TypeError, ImportError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise StoreError(f"{what}: cannot be stored as Parquet ({str(exc).splitlines()[0]})") from None
    return buf.getvalue()


def from_parquet(data: bytes) -> pd.DataFrame:
    """The DataFrame of Parquet bytes."""
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def aware(when: datetime | None) -> datetime | None:
    """A stored time as timezone-aware UTC (SQLite returns naive UTC times)."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=timezone.utc)


def encode_results(tables, files, params, studies) -> dict:
    """Check names and encode blobs before a write transaction starts (no lock held meanwhile)."""
    out = {"tables": {}, "files": {}, "studies": [], "params": None}
    for name, df in (tables or {}).items():
        data = to_parquet(df, f"table {check_name(name, 'table')!r}")
        out["tables"][name] = (len(df), data)
    for name, data in (files or {}).items():
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StoreError(f"file {check_name(name, 'file')!r}: bytes are needed, not {type(data).__name__}")
        out["files"][check_name(name, "file")] = bytes(data)
    seen = set()
    for st in studies or ():
        check_name(st.name, "study")
        if st.name in seen:
            raise StoreError(f"study {st.name!r}: given twice")
        seen.add(st.name)
        out["studies"].append(dict(name=st.name, sha256=st.sha256, n_accepted=len(st.accepted),
                                   n_excluded=len(st.excluded),
                                   accepted=to_parquet(st.accepted, f"study {st.name!r} accepted rows"),
                                   excluded=to_parquet(st.excluded, f"study {st.name!r} excluded rows")))
    if params is not None:
        out["params"] = to_parquet(params, "parameters in force")
    return out
