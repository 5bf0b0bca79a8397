"""Shared command-line plumbing: one-line user errors with exit status 2, output checks."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Callable

import typer

from mscpk.errors import MscpkError, ScenarioError


def fail(message: str) -> typer.Exit:
    """Print ``error: <message>`` as ONE line on stderr; return the exit (status 2) to raise."""
    one_line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.echo(f"error: {one_line}", err=True)
    return typer.Exit(2)


def user_errors(func: Callable) -> Callable:
    """Decorator: an :class:`MscpkError` becomes one stderr line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MscpkError as exc:
            raise fail(str(exc)) from None

    return wrapper


def parse_times(text: str | None, option: str = "--times") -> list[float] | None:
    """``"1,24,72"`` -> [1.0, 24.0, 72.0] [h]; None stays None; anything else is a user error."""
    if text is None:
        return None
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ScenarioError(f"{option}: {text!r} is not a comma-separated list of hours") from None
    if not vals or any(not math.isfinite(v) or v < 0 for v in vals):
        raise ScenarioError(f"{option}: {text!r}: give one or more times >= 0 [h]")
    return vals


def check_out(out: Path, suffixes: tuple[str, ...], what: str = "output") -> None:
    """Refuse an output path with the wrong suffix or in a folder that does not exist."""
    if out.suffix.lower() not in suffixes:
        raise ScenarioError(f"{what} {str(out)!r}: unsupported file type {out.suffix or '(none)'!r}; "
                            f"allowed: {', '.join(suffixes)}")
    if not out.parent.exists() and str(out.parent) not in ("", "."):
        raise ScenarioError(f"{what} {str(out)!r}: folder {str(out.parent)!r} does not exist")
