"""The typer application of the ``mscpk`` command (commands are registered in
:mod:`mscpk.interfaces.cli`)."""

import typer

# rich_markup_mode=None: help texts are plain text, so units such as "[h]" or "[cells/g]" are
# shown as written instead of being swallowed as rich markup tags.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="mscpk: physiologically based pharmacokinetics of MSC therapies.")
export_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                         help="Export a scenario's model.")
app.add_typer(export_app, name="export")
