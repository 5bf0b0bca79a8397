"""The ``mscpk`` command line (typer): every command, registered explicitly here.

User errors (any :class:`~mscpk.errors.MscpkError`) print one line ``error: ...`` on stderr and
exit with status 2; no traceback and no partial output file. The command modules import the
analysis layer inside each command, so that ``mscpk --help`` starts without pandas or scipy.
"""

from mscpk.interfaces.cli import analysis, calibrate, commands, db, design, detection, population, qualify, report, serve
from mscpk.interfaces.cli.app import app, export_app
from mscpk.interfaces.cli.common import handle_sigterm

app.command("nca")(analysis.nca_command)
app.command("fit")(analysis.fit_command)
app.command("observe")(detection.observe_command)
app.command("detection-window")(detection.detection_window_command)
app.command("design-study")(detection.design_study_command)
app.command("knowledge")(detection.knowledge_command)
app.command("qualify")(qualify.qualify_command)
app.command("calibrate")(calibrate.calibrate_command)
app.command("population")(population.population_command)
app.command("sensitivity")(population.sensitivity_command)
app.command("optimize")(design.optimize_command)
app.command("translate")(design.translate_command)
app.command("effect")(design.effect_command)
app.command("report")(report.report_command)
app.add_typer(db.db_app, name="db")
app.command("serve")(serve.serve_command)


def main() -> None:
    """Entry point of the ``mscpk`` console script."""
    handle_sigterm()
    app()


__all__ = ["app", "export_app", "main", "commands"]
