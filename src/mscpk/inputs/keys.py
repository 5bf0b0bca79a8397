"""Scenario keys as ``scan`` and ``[population.vary]`` write them: a dotted path into the
scenario (``"product.diameter_um.mean"``, ``"dose[1].cells"``, ``"dose[*].cells"``,
``"subject.injury[1].severity"``); :func:`set_path` sets one in a scenario's plain dict."""

from __future__ import annotations

import re
from typing import Any, Mapping

from mscpk.errors import ScenarioError

_INDEX = re.compile(r"^(\w+)\[(\d+|\*)\]$")


#: Keys of a dose of which exactly one is given: setting one removes the other.
_EITHER = {"cells": "cells_per_kg", "cells_per_kg": "cells"}


def _update(table: dict, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` in ``table``: None removes a key; cells / cells_per_kg replace each other."""
    for key, value in changes.items():
        table.pop(key, None)
        if value is not None:
            table[key] = value
            if key in _EITHER:
                table.pop(_EITHER[key], None)


def _put(container: dict | list, key: str | int, value: Any) -> None:
    """Set ``container[key]``; a table value updates a table already there."""
    old = container[key] if isinstance(container, list) else container.get(key)
    if isinstance(value, Mapping) and isinstance(old, dict):
        _update(old, value)
    elif isinstance(container, list):
        container[key] = value
    else:
        _update(container, {key: value})


def set_path(raw: dict, path: str, value: Any, what: str = "scan key") -> None:
    """Set the key ``path`` of the scenario dict ``raw`` to ``value`` (``what`` names the key
    in messages). Raises :class:`ScenarioError` for a path the scenario does not have."""
    parts = path.split(".")
    targets: list[Any] = [raw]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        m = _INDEX.match(part)
        nxt: list[Any] = []
        for node in targets:
            if not isinstance(node, dict):
                raise ScenarioError(f"{what} {path!r}: {parts[i - 1]!r} is not a table")
            if m:
                seq = node.get(m.group(1))
                if not isinstance(seq, list):
                    raise ScenarioError(f"{what} {path!r}: {m.group(1)!r} is not a list in the scenario")
                idx = range(len(seq)) if m.group(2) == "*" else [int(m.group(2)) - 1]
                for j in idx:
                    if not 0 <= j < len(seq):
                        held = f"{len(seq)} entr{'y' if len(seq) == 1 else 'ies'} (1..{len(seq)})" if seq else "no entries"
                        raise ScenarioError(f"{what} {path!r}: index {j + 1} out of range; the scenario's "
                                            f"{m.group(1)!r} has {held}")
                    if last:
                        _put(seq, j, value)
                    else:
                        nxt.append(seq[j])
            elif last:
                _put(node, part, value)
            else:
                nxt.append(node.setdefault(part, {}))
        targets = nxt


__all__ = ["set_path"]
