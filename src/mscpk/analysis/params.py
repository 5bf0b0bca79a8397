"""``parameters_in_force``: every parameter a scenario's model uses, with unit and source."""

from __future__ import annotations

from mscpk.inputs.detection import detection_parameter_rows
from mscpk.inputs.resolve import resolve
from mscpk.inputs.scenario import Scenario


def parameters_in_force(scenario: Scenario):
    """DataFrame ``name, value, unit, source`` of every parameter in force: model parameters,
    species physiology and detection settings (as ``mscpk params`` lists them).

    >>> import mscpk
    >>> df = mscpk.parameters_in_force(mscpk.load_scenario("examples/iv_mouse.toml"))
    >>> list(df.columns)
    ['name', 'value', 'unit', 'source']
    """
    import pandas as pd

    inputs = resolve(scenario)
    rows = [(p.name, p.value, p.unit, p.source) for p in inputs.params.records()]
    rows += inputs.species.parameter_rows()
    rows += detection_parameter_rows(scenario.parameters)
    return pd.DataFrame(rows, columns=["name", "value", "unit", "source"])


__all__ = ["parameters_in_force"]
