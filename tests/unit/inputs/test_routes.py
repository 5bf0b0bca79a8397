"""The route table (mscpk.inputs.routes, data/routes.toml) and how the scenario schema uses it."""

from __future__ import annotations

import pytest

from helpers import data_table, make
from mscpk.engine.model.depots import DEPOT_KINDS
from mscpk.errors import ScenarioError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.routes import depots_used, route, route_aliases, route_names, routes

#: The routes of the scenario format (shared/INTERFACE.md, ``[[dose]] route``).
INTERFACE_ROUTES = ("iv", "ia", "ip", "intra_articular", "intramyocardial", "intracoronary",
                    "intrathecal", "intratracheal", "local")
RAW = data_table("routes.toml")["route"]


def scenario(**dose):
    return scenario_from_dict({"subject": {"species": "mouse"}, "dose": [{"cells": 1e6, **dose}]})


def test_every_route_of_the_scenario_format_is_in_the_table():
    assert set(INTERFACE_ROUTES) <= set(route_names())


def test_the_table_is_the_data_file_in_its_order():
    assert route_names() == tuple(RAW)
    for name, row in RAW.items():
        r = route(name)
        assert (r.name, r.kind, r.site, r.depot) == (name, row["kind"], row["site"], row.get("depot"))
        assert r.spellings == tuple(row.get("spellings", ()))


def test_depot_routes_have_a_depot_and_vascular_routes_an_entry():
    for r in routes().values():
        if r.kind == "depot":
            assert (r.depot in DEPOT_KINDS or r.in_organ) and r.enters is None and not r.vascular
        else:
            assert r.kind == "vascular" and r.vascular and r.depot is None
            assert r.enters in ("venous_blood", "organ_vasculature")
    assert route("iv").enters == "venous_blood"
    assert route("local").in_organ and route("intramyocardial").in_organ  # depots inside the organ reached
    assert route("scaffold").depot == "injection_site" and not route("scaffold").in_organ
    assert route("intramyocardial").depot_site(None) == "heart" and route("local").depot_site("brain") == "brain"


def test_only_injections_leak_back():
    for r in routes().values():
        assert (r.leak_back is not None) == (r.depot in ("injection_site", "organ")), r.name


def test_spellings_are_unique_and_map_back_to_their_route():
    seen = {}
    for r in routes().values():
        for s in r.spellings:
            key = s.lower()
            assert key not in seen, f"{s!r} spelled for {seen.get(key)} and {r.name}"
            assert key not in route_names(), f"spelling {s!r} is also a route name"
            seen[key] = r.name
    assert dict(route_aliases()) == seen
    assert route_aliases()["intravenous"] == "iv" and route_aliases()["intracardiac"] == "intramyocardial"


def test_default_and_required_sites():
    assert route("intracoronary").target_site(None) == "heart"
    assert route("intramyocardial").target_site(None) == "heart"
    assert route("intramyocardial").target_site("liver") == "liver"
    assert {n for n, r in routes().items() if r.needs_site} == {"ia", "local", "scaffold"}
    organs = ("lung", "heart", "brain")
    assert route("ia").site_choices(organs) == ("heart", "brain")  # an artery does not reach the lung
    assert route("local").site_choices(organs) == organs
    assert route("iv").site_choices(organs) == ()


def test_depots_used_are_unique_in_order_of_first_use():
    from types import SimpleNamespace as D

    def dose(r, site=None):
        return D(route=r, target_site=lambda: route(r).target_site(site))
    doses = [dose("iv"), dose("intra_articular"), dose("ip"), dose("local", "brain"), dose("intra_articular"),
             dose("scaffold", "bone_marrow"), dose("intramyocardial")]
    # a local or intramyocardial depot lies inside the organ it is injected into
    assert depots_used(doses) == ("joint", "peritoneum", "brain", "injection_site", "heart")
    assert depots_used([dose("iv"), dose("ia", "brain")]) == ()


def test_route_lookup_refuses_an_unknown_name_with_a_did_you_mean():
    with pytest.raises(ScenarioError, match=r"unknown route 'intrathekal'; did you mean 'intrathecal'\?"):
        route("intrathekal")


# ---- the scenario schema -----------------------------------------------------------------

@pytest.mark.parametrize("name", list(RAW))
def test_the_schema_accepts_every_route_of_the_table(name):
    site = "liver" if RAW[name].get("needs_site") else None
    sc = scenario(route=name, **({"site": site} if site else {}))
    assert sc.dose[0].route == name


def test_the_schema_refuses_an_unknown_route_with_a_did_you_mean():
    with pytest.raises(ScenarioError, match=r"dose\[1\]\.route: unknown route; did you mean 'intratracheal'\?"
                                            r".*allowed: .*intramyocardial.*\(got 'intratrachael'\)"):
        scenario(route="intratrachael")


def test_the_schema_suggests_the_route_of_a_known_spelling():
    with pytest.raises(ScenarioError, match=r"did you mean 'iv'\?"):
        scenario(route="intravenous")


@pytest.mark.parametrize("name", [n for n in RAW if RAW[n].get("needs_site")])
def test_a_route_needing_a_site_refuses_a_dose_without_one(name):
    with pytest.raises(ScenarioError, match=rf"dose\[1\]: route '{name}' needs 'site'"):
        scenario(route=name)


def test_an_artery_cannot_reach_the_lung():
    with pytest.raises(ScenarioError, match=r"dose\[1\]\.site: unknown value 'lung'"):
        scenario(route="ia", site="lung")


def test_a_route_without_sites_accepts_only_its_own_depot_as_site():
    assert scenario(route="ip", site="peritoneum").dose[0].site == "peritoneum"
    with pytest.raises(ScenarioError, match=r"dose\[1\]\.site: route 'ip' does not take a site"):
        scenario(route="ip", site="liver")
    with pytest.raises(ScenarioError, match=r"route 'iv' does not take a site"):
        scenario(route="iv", site="liver")


def test_one_injection_site_per_scenario():
    # injections into organs: each organ holds its own depot
    sc = make(doses=[{"route": "local", "site": "liver", "cells": 1e5}, {"route": "intramyocardial", "cells": 1e5}])
    assert len(sc.dose) == 2
    # a scaffold lies outside every organ: one injection_site per scenario
    with pytest.raises(ScenarioError, match="several organs"):
        make(doses=[{"route": "scaffold", "site": "liver", "cells": 1e5},
                    {"route": "scaffold", "site": "muscle", "cells": 1e5}])
