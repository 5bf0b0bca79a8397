"""Shared command-line plumbing: one-line user errors with exit status 2, output checks."""

from __future__ import annotations

import functools
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
    """``"1,24,72"`` -> [1.0, 24.0, 72.0] [h] (checked as every output time); None stays None."""
    from mscpk.inputs.scenario import check_times

    if text is None:
        return None
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ScenarioError(f"{option}: {text!r} is not a comma-separated list of hours") from None
    return list(check_times(vals, option))


def check_out(out: Path, suffixes: tuple[str, ...], what: str = "output") -> None:
    """Refuse an output path with the wrong suffix or in a folder that does not exist."""
    if out.suffix.lower() not in suffixes:
        raise ScenarioError(f"{what} {str(out)!r}: unsupported file type {out.suffix or '(none)'!r}; "
                            f"allowed: {', '.join(suffixes)}")
    if not out.parent.exists() and str(out.parent) not in ("", "."):
        raise ScenarioError(f"{what} {str(out)!r}: folder {str(out.parent)!r} does not exist")
