"""The route table: every route of administration and what it implies, read from
``data/routes.toml`` (the single owner of this knowledge).

>>> from mscpk.inputs.routes import route
>>> route("ip").depot
'peritoneum'
>>> route("intracoronary").target_site(None)
'heart'
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping

from mscpk.errors import ScenarioError, did_you_mean

SITE_RULES = ("none", "organ", "organ_not_lung")


@dataclass(frozen=True)
class Route:
    """One route: ``kind`` ("vascular" | "depot"), ``depot`` (site name or None), ``site``
    (which sites it takes: one of :data:`SITE_RULES`), ``needs_site``, ``default_site``,
    ``leak_back`` and ``spill`` (parameter names or None: the fractions of an injection that
    enter venous blood at once and that are lost out of the tissue), ``by_site`` (organ ->
    its own ``leak_back``/``spill`` parameter names, e.g. the beating heart), other
    ``spellings`` of its name and, for vascular routes, where the cells ``enters``
    ("venous_blood" | "organ_vasculature")."""

    name: str
    kind: str
    site: str
    depot: str | None = None
    needs_site: bool = False
    default_site: str | None = None
    leak_back: str | None = None
    spellings: tuple[str, ...] = ()
    enters: str | None = None
    spill: str | None = None
    by_site: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def injection_losses(self, site: str | None) -> tuple[str | None, str | None]:
        """Parameter names of the leak-back and spill fractions of an injection at ``site``
        (the organ's own entry in ``by_site``, else the route's)."""
        own = self.by_site.get(self.target_site(site) or "", {})
        return own.get("leak_back", self.leak_back), own.get("spill", self.spill)

    @property
    def vascular(self) -> bool:
        return self.kind == "vascular"

    @property
    def in_organ(self) -> bool:
        """True when the depot lies inside the organ the needle reaches."""
        return self.depot == "organ"

    def depot_site(self, site: str | None) -> str | None:
        """The site of a dose's depot: the organ reached (depot inside an organ), the
        depot's own site, or None (vascular routes)."""
        return self.target_site(site) if self.in_organ else self.depot

    def target_site(self, site: str | None) -> str | None:
        """The organ reached: the dose's ``site`` or the route's default."""
        return site or self.default_site

    def site_choices(self, organs: tuple[str, ...]) -> tuple[str, ...]:
        """The sites this route accepts, given the species' organs."""
        if self.site == "organ":
            return tuple(organs)
        if self.site == "organ_not_lung":
            return tuple(o for o in organs if o != "lung")
        return ()


@lru_cache(maxsize=1)
def routes() -> Mapping[str, Route]:
    """name -> :class:`Route`, in the table's order."""
    raw = tomllib.loads(resources.files("mscpk.data").joinpath("routes.toml").read_text("utf-8"))
    out: dict[str, Route] = {}
    for name, row in raw["route"].items():
        r = Route(name, row["kind"], row["site"], row.get("depot"), bool(row.get("needs_site", False)),
                  row.get("default_site"), row.get("leak_back"), tuple(row.get("spellings", ())), row.get("enters"),
                  row.get("spill"), MappingProxyType({k: MappingProxyType(dict(v)) for k, v in row.get("by_site", {}).items()}))
        if (r.by_site and r.leak_back is None) or any(set(v) - {"leak_back", "spill"} for v in r.by_site.values()):
            raise ScenarioError(f"routes.toml: route {name!r}: by_site entries need a leak-back route and "
                                f"may set only leak_back and spill: {row.get('by_site')}")
        if (r.kind not in ("vascular", "depot") or r.site not in SITE_RULES or (r.kind == "depot") != bool(r.depot)
                or (r.kind == "vascular") != (r.enters in ("venous_blood", "organ_vasculature"))):
            raise ScenarioError(f"routes.toml: route {name!r} is inconsistent: {row}")
        out[name] = r
    return MappingProxyType(out)


def route_names() -> tuple[str, ...]:
    return tuple(routes())


def route(name: str) -> Route:
    """The :class:`Route` called ``name`` (ScenarioError with a did-you-mean otherwise)."""
    table = routes()
    if name not in table:
        raise ScenarioError(f"unknown route {name!r}; {did_you_mean(name, table)}allowed: {', '.join(table)}")
    return table[name]


def route_aliases() -> Mapping[str, str]:
    """Other spelling (lower case) -> route name, for study files' ROUTE column."""
    return MappingProxyType({s.lower(): r.name for r in routes().values() for s in r.spellings})


def route_from_text(text: str) -> str | None:
    """The route a study file's ROUTE (or CMT) cell names: a route name or one of its
    spellings, any case, spaces for underscores; None if it names none.

    >>> route_from_text(" Intra Articular ")
    'intra_articular'
    """
    key = str(text).strip().lower()
    name = route_aliases().get(key, key).replace(" ", "_")
    return name if name in route_names() else None


def depots_used(doses) -> tuple[str, ...]:
    """The depot sites (in order of first use) that ``doses`` (with ``route`` and
    ``target_site()``) fill: named depots and organs holding an intra-organ depot."""
    sites = (routes()[d.route].depot_site(d.target_site()) for d in doses)
    return tuple(dict.fromkeys(s for s in sites if s))


__all__ = ["Route", "routes", "route", "route_names", "route_aliases", "route_from_text", "depots_used"]
