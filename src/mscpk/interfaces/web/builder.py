"""The scenario builder's form: fields <-> the scenario's TOML table, and the loader's
message placed beside the field it names.

The form edits the common keys (subject, injuries, product, doses, run); every other key of a
loaded scenario (``[parameters]``, ``[population]``, ``times_h`` ...) is carried along
unchanged in the form's TOML text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from mscpk.errors import MscpkError
from mscpk.inputs.physiology import available_species
from mscpk.inputs.routes import route_names
from mscpk.inputs.scenario import Product, Subject
from mscpk.interfaces.web.jobs import scenario_from_text

#: Rows of injuries and doses the form offers beyond those of the scenario.
EXTRA_ROWS = 1


def _choices(model, name: str) -> tuple[str, ...]:
    """The allowed values of a Literal field of a scenario model."""
    return tuple(getattr(model.model_fields[name].annotation, "__args__", ()))


@dataclass(frozen=True)
class Field:
    """One input of the form: its scenario key (below its table), label, kind and choices."""

    key: str
    label: str
    kind: str = "number"  # number | int | text | choice | bool
    choices: tuple[str, ...] = ()
    unit: str = ""


def _tables() -> dict[str, tuple[Field, ...]]:
    return {
        "": (Field("name", "Scenario name", "text"),),
        "subject": (Field("species", "Species", "choice", tuple(available_species())),
                    Field("body_weight_kg", "Body weight", unit="kg"),
                    Field("immune", "Immune status", "choice", _choices(Subject, "immune"))),
        "subject.injury": (Field("site", "Injured site", "text"), Field("severity", "Severity (0-10)")),
        "product": (Field("name", "Product name", "text"),
                    Field("origin", "Origin", "choice", _choices(Product, "origin")),
                    Field("source", "Tissue source", "choice", _choices(Product, "source")),
                    Field("diameter_um.mean", "Diameter mean", unit="um"),
                    Field("diameter_um.sd", "Diameter SD", unit="um"),
                    Field("viability", "Viability (0-1)"), Field("passage", "Passage", "int"),
                    Field("label", "Label", "text")),
        "dose": (Field("route", "Route", "choice", tuple(route_names())), Field("cells", "Cells"),
                 Field("cells_per_kg", "Cells per kg", unit="1/kg"), Field("time_h", "Time", unit="h"),
                 Field("infusion_min", "Infusion", unit="min"), Field("site", "Site", "text"),
                 Field("vasodilator", "Vasodilator", "bool")),
        "run": (Field("end_h", "End of run", unit="h"),),
    }


TABLES = _tables()
#: The tables that are lists of rows ([[subject.injury]], [[dose]]).
ROW_TABLES = ("subject.injury", "dose")


def examples_dir() -> Path:
    """The bundled example scenarios: ``mscpk/examples``, a symbolic link to the repository's
    ``examples/`` in a checkout, the files themselves in an installed wheel (package data)."""
    return Path(str(resources.files("mscpk"))) / "examples"


def example_names() -> list[str]:
    folder = examples_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def example_text(name: str) -> str | None:
    """The TOML text of a bundled example, or None for an unknown name."""
    return (examples_dir() / f"{name}.toml").read_text(encoding="utf-8") if name in example_names() else None


def _get(table: Mapping[str, Any], dotted: str) -> Any:
    value: Any = table
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _set(table: dict, dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    for part in head:
        table = table.setdefault(part, {})
    if value is None:
        table.pop(last, None)
    else:
        table[last] = value


def field_name(table: str, key: str, row: int | None = None) -> str:
    """The form name (and the loader's key) of a field: ``subject.species``, ``dose[1].cells``."""
    base = f"{table}[{row}]" if row is not None else table
    return f"{base}.{key}" if base else key


def form_rows(raw: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The scenario's rows of each table: {table: [{key: value}, ...]} (plain tables: one row)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, fields in TABLES.items():
        if table in ROW_TABLES:
            items = _get(raw, table) or []
            items = [i for i in items if isinstance(i, Mapping)] + [{}] * EXTRA_ROWS
        else:
            items = [raw if not table else (_get(raw, table) or {})]
        out[table] = [{f.key: _get(item, f.key) for f in fields} for item in items]
    return out


def _value(f: Field, text: str | None) -> Any:
    """A form text as the TOML value (empty: the key is left out; not a number: the text, so
    that the loader names the key and the value)."""
    if f.kind == "bool":
        return True if text else None
    text = (text or "").strip()
    if not text:
        return None
    if f.kind in ("number", "int"):
        try:
            return int(text) if f.kind == "int" or re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            return text
    return text


def apply_form(base_toml: str, form: Mapping[str, str]) -> str:
    """The TOML text of ``base_toml`` with the form's fields written over it (blank rows of
    injuries and doses left out)."""
    try:
        raw = tomllib.loads(base_toml) if base_toml.strip() else {}
    except tomllib.TOMLDecodeError:
        raw = {}
    for table, fields in TABLES.items():
        if table in ROW_TABLES:
            old = [i for i in (_get(raw, table) or []) if isinstance(i, Mapping)]
            rows = []
            for r in range(1, len(old) + EXTRA_ROWS + 1):
                row = dict(old[r - 1]) if r <= len(old) else {}
                for f in fields:
                    _set(row, f.key, _value(f, form.get(field_name(table, f.key, r))))
                if any(_get(row, f.key) is not None for f in fields):
                    rows.append(row)
            _set(raw, table, rows or None)
        else:
            target = raw.setdefault(table, {}) if table else raw
            for f in fields:
                _set(target, f.key, _value(f, form.get(field_name(table, f.key))))
    return tomli_w.dumps(raw)


#: A loader message's leading key: "dose[1].cells: ...", "subject.injury[2].site: ...".
_KEY = re.compile(r"^((?:[A-Za-z_]+(?:\[\d+\])?)(?:\.[A-Za-z_]+(?:\[\d+\])?)*)(?:\[[^\]]*\])?: ")


def check(toml_text: str) -> tuple[dict[str, str], str | None]:
    """Validate with mscpk's loader: ({field name: message}, message not tied to a form
    field) - both empty when the scenario is valid."""
    try:
        scenario_from_text(toml_text)
    except MscpkError as exc:
        message = str(exc)
        m = _KEY.match(message)
        try:
            rows = form_rows(tomllib.loads(toml_text)) if m else {}
        except tomllib.TOMLDecodeError:
            rows = {}
        names = {field_name(t, f.key, r if t in ROW_TABLES else None)
                 for t, items in rows.items() for r in range(1, len(items) + 1) for f in TABLES[t]}
        key = m.group(1) if m else ""
        while key and key not in names and "." in key:
            key = key.rpartition(".")[0]  # "product.diameter_um.mean.x" -> the nearest field
        return ({key: message}, None) if key in names else ({}, message)
    return {}, None
