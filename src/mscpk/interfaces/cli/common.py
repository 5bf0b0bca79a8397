"""Shared command-line plumbing: one-line user errors with exit status 2, output checks."""

from __future__ import annotations

import functools
import os
import signal
import warnings
from pathlib import Path
from typing import Callable

import typer

from mscpk.errors import MscpkError, MscpkWarning, ScenarioError


def one_line(message: object) -> str:
    """A message of several lines as one line: lines joined by "; ", except that a line ending
    in ":" (a heading such as "cannot run NCA on x.csv:") is joined to the next by a space."""
    out = ""
    for part in (p.strip() for p in str(message).splitlines()):
        if part:
            out += (" " if out.endswith(":") else "; " if out else "") + part
    return out


def fail(message: str) -> typer.Exit:
    """Print ``error: <message>`` as ONE line on stderr; return the exit (status 2) to raise."""
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(2)


def _terminate(signum, frame) -> None:  # noqa: ARG001 -- signal handler signature
    raise KeyboardInterrupt(f"signal {signum}")


def handle_sigterm() -> None:
    """Treat SIGTERM as Ctrl-C: the atomic writers then delete their temporary files."""
    signal.signal(signal.SIGTERM, _terminate)


def user_errors(func: Callable) -> Callable:
    """Decorator: an :class:`MscpkError` becomes one stderr line and exit status 2; each
    distinct :class:`MscpkWarning` of a command that succeeds becomes one ``warning:`` line on
    stderr (a failing command prints its error line only). Other warnings are shown as usual."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MscpkWarning)
            try:
                value = func(*args, **kwargs)
            except MscpkError as exc:
                raise fail(str(exc)) from None
        for w in caught:
            if not issubclass(w.category, MscpkWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        for text in dict.fromkeys(one_line(w.message) for w in caught if issubclass(w.category, MscpkWarning)):
            typer.echo(f"warning: {text}", err=True)
        return value

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
    return check_times(vals, option).tolist()


#: Figure formats every plotting command writes.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_out(out: Path, suffixes: tuple[str, ...], what: str = "output") -> None:
    """Refuse, before any work starts, an output path that cannot be written: a wrong file type,
    a folder (existing as a folder, or missing, or not writable) - the one output-path check of
    every command."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise ScenarioError(f"{what} {str(out)!r}: unsupported file type {out.suffix or '(none)'!r}; "
                            f"allowed: {', '.join(suffixes)}")
    if out.is_dir():
        raise ScenarioError(f"{what} {str(out)!r}: is a folder; give a file name")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError(f"{what} {str(out)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ScenarioError(f"{what} {str(out)!r}: not writable (permission denied)")


def print_table(table) -> None:
    """Print a rich Table: boxed on a terminal; plain aligned text (no wrapping, no box
    characters) when standard output is a pipe or a file, so that it stays readable."""
    from rich import box
    from rich.console import Console

    console = Console()
    if console.is_terminal:
        Console(width=max(120, console.width)).print(table)
        return
    table.box = box.SIMPLE
    for col in table.columns:
        col.no_wrap = True
    Console(width=10_000, no_color=True).print(table, crop=False)
