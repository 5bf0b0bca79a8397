"""The typer application of the ``mscpk`` command (commands are registered in
:mod:`mscpk.interfaces.cli`)."""

import sys

import typer
from typer.core import TyperGroup

#: Click's error base class, whichever click typer uses (its own copy in recent versions).
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """Click's own usage errors (a text given to a number option, a missing option, an
    unknown command) as one ``error: ...`` line on stderr with exit status 2, like every
    other user error of mscpk."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except _CLICK_ERROR as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (mscpk {ctx.info_name}; see --help)" if ctx is not None and ctx.parent is not None else ""
            message = " ".join(exc.format_message().split())
            typer.echo(f"error: {message}{where}", err=True)
            sys.exit(2)
        except (typer.Abort, KeyboardInterrupt, EOFError):  # Ctrl-C, SIGTERM (cli.common.handle_sigterm)
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

# rich_markup_mode=None: help texts are plain text, so units such as "[h]" or "[cells/g]" are
# shown as written instead of being swallowed as rich markup tags.
app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="mscpk: physiologically based pharmacokinetics of MSC therapies.")
export_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                         help="Export a scenario's model.")
app.add_typer(export_app, name="export")
