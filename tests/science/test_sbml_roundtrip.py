"""SBML export: structure, libsbml validity, and agreement of libroadrunner with mscpk.simulate."""

from __future__ import annotations

import re
from pathlib import Path

import libsbml
import numpy as np
import pytest

import mscpk
from mscpk.errors import ScenarioError
from mscpk.engine.model.build import build_network
from mscpk.analysis.sbml import build_sbml_document, export_sbml

ROOT = Path(__file__).resolve().parents[2]
IV_MOUSE = ROOT / "examples" / "iv_mouse.toml"

#: max |roadrunner - mscpk| / cells administered, over output times and species
AGREEMENT = 1e-6
AGREEMENT_SATURATION = 1e-5

HEADER = """
name = "{name}"

[subject]
species = "mouse"

[product]
name = "mouse BM-MSC"
origin = "syngeneic"
source = "bone_marrow"
viability = 0.95
"""

MULTI_DOSE = HEADER.format(name="two IV doses (second infused) plus IP") + """
[[dose]]
route = "iv"
cells = 5e5
time_h = 0.0

[[dose]]
route = "iv"
cells = 1e6
time_h = 24.0
infusion_min = 30.0

[[dose]]
route = "ip"
cells = 2e6
time_h = 48.0

[run]
end_h = 672.0
"""

VASODILATOR = HEADER.format(name="IV with vasodilator") + """
[[dose]]
route = "iv"
cells = 5e5
time_h = 0.0
infusion_min = 10.0
vasodilator = true

[[dose]]
route = "iv"
cells = 5e5
time_h = 72.0
vasodilator = true

[run]
end_h = 672.0
"""

PRIMING = HEADER.replace('origin = "syngeneic"', 'origin = "allogeneic"').format(
    name="allogeneic IV + IP, primed, repeat dose with vasodilator") + """
[[dose]]
route = "iv"
cells = 5e5
time_h = 0.0
vasodilator = true

[[dose]]
route = "ip"
cells = 1e6
time_h = 24.0

[[dose]]
route = "iv"
cells = 5e5
time_h = 200.0
infusion_min = 20.0
vasodilator = true

[run]
end_h = 672.0

[parameters]
"Immune priming delay [h]" = 120.0
"Primed immune hazard factor [-]" = 4.0
"""

HIGH_DOSE = HEADER.format(name="high IV dose") + """
[[dose]]
route = "iv"
cells = 5e6
time_h = 0.0

[run]
end_h = 672.0
"""


def _scenario(tmp_path: Path, text: str, name: str = "scenario.toml"):
    path = tmp_path / name
    path.write_text(text)
    return mscpk.load_scenario(path)


def _consistency_errors(xml: str) -> list[str]:
    """libsbml errors (severity error or fatal), unit-consistency checks excluded."""
    doc = libsbml.readSBMLFromString(xml)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.checkConsistency()
    errors = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errors.append(f"{err.getErrorId()}: {err.getMessage().strip()}")
    return errors


def _administered_total(scenario) -> float:
    return sum(inp.cells for inp in build_network(scenario).inputs)


def _roadrunner_states(xml: str, times: np.ndarray, names: tuple[str, ...], dose: float) -> np.ndarray:
    roadrunner = pytest.importorskip("roadrunner")
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    rr = roadrunner.RoadRunner(xml)
    rr.integrator.stiff = True
    rr.integrator.relative_tolerance = 1e-10
    # The fast vascular transit pools (e.g. lung__vascular: residence ~0.4 ms) hold well under
    # one cell while carrying the whole cardiac-output flux; an absolute tolerance of
    # 1e-10 * dose (3.5e-4 cells) there lets CVODE's global error reach ~1e-4 of the dose
    # during an infusion or after a later bolus. 1e-14 * dose keeps it below 1e-7.
    rr.integrator.absolute_tolerance = 1e-14 * dose
    rr.integrator.maximum_num_steps = 1_000_000
    out = np.asarray(rr.simulate(times=[float(t) for t in times], selections=["time", *names]))
    np.testing.assert_allclose(out[:, 0], times, rtol=0, atol=1e-12)
    return out[:, 1:]


def _max_deviation(scenario, saturation: str) -> tuple[float, float]:
    """(max |rr - mscpk| / dose, max |sum(rr) - administered| / dose) over the output grid."""
    res = mscpk.simulate(scenario, saturation=saturation)
    dose = _administered_total(scenario)
    xml = export_sbml(scenario, saturation=saturation)
    assert not _consistency_errors(xml)
    rr = _roadrunner_states(xml, np.asarray(res.times_h), res.state_names, dose)
    assert rr.shape == res.states.shape
    dev = float(np.max(np.abs(rr - res.states)) / dose)
    balance = float(np.max(np.abs(rr.sum(axis=1) - res.administered)) / dose)
    return dev, balance


# --------------------------------------------------------------------------------------
# 1. structure and validity

def test_species_ids_and_consistency():
    sc = mscpk.load_scenario(IV_MOUSE)
    net = build_network(sc)
    xml = export_sbml(sc)
    doc = libsbml.readSBMLFromString(xml)
    assert doc.getLevel() == 3 and doc.getVersion() == 2
    model = doc.getModel()
    ids = [model.getSpecies(i).getId() for i in range(model.getNumSpecies())]
    assert ids == list(net.names)
    assert "lung__arrested" in ids and "blood__venous" in ids and "eliminated__degraded" in ids
    for i in range(model.getNumSpecies()):
        sp = model.getSpecies(i)
        assert sp.getHasOnlySubstanceUnits() and sp.getCompartment() == "body"
        assert sp.getSubstanceUnits() == "cell"
    assert model.getNumCompartments() == 1
    body = model.getCompartment("body")
    assert body.getSize() == 1.0 and body.getConstant()
    assert model.getTimeUnits() == "hour"
    assert model.getUnitDefinition("hour").getUnit(0).getMultiplier() == 3600.0
    assert model.getUnitDefinition("cell").getUnit(0).getKind() == libsbml.UNIT_KIND_ITEM
    # t = 0 bolus as initial amounts; the rest start empty
    expected = net.input_vector(net.inputs[0])[net.layout.index("blood__venous")]
    assert 0.8 * 5e5 < expected < 5e5
    assert model.getSpecies("blood__venous").getInitialAmount() == pytest.approx(expected, rel=1e-12)
    assert model.getSpecies("lung__arrested").getInitialAmount() == 0.0
    # one reaction per transition, one rate parameter per distinct rate
    base = net.modes["base"]
    assert model.getNumReactions() == len(base)
    k_ids = [p.getId() for p in model.getListOfParameters() if p.getId().startswith("k_")]
    assert len(k_ids) == len({t.rate for trs in net.modes.values() for t in trs})
    assert _consistency_errors(xml) == []


def test_full_consistency_including_units(tmp_path):
    """Stronger than required: no libsbml diagnostics at all, units included."""
    for sc, sat in [(_scenario(tmp_path, MULTI_DOSE, "m.toml"), "on"),
                    (_scenario(tmp_path, VASODILATOR, "v.toml"), "off")]:
        doc = build_sbml_document(sc, saturation=sat)
        assert doc.checkConsistency() == 0, [doc.getError(i).getMessage() for i in range(doc.getNumErrors())]


def test_events_infusions_and_mode_switch(tmp_path):
    multi = _scenario(tmp_path, MULTI_DOSE, "m.toml")
    model = libsbml.readSBMLFromString(export_sbml(multi)).getModel()
    events = {model.getEvent(i).getId(): model.getEvent(i) for i in range(model.getNumEvents())}
    # immunocompetent host: primed from the first dose + "Immune priming delay [h]" (168 h) on
    assert set(events) == {"bolus_1", "inf_1_on", "inf_1_off", "primed_on_1"}
    assert "168" in libsbml.formulaToL3String(events["primed_on_1"].getTrigger().getMath())
    bolus = events["bolus_1"]
    assert bolus.getUseValuesFromTriggerTime()
    assert bolus.getTrigger().getPersistent() and not bolus.getTrigger().getInitialValue()
    assert "48" in libsbml.formulaToL3String(bolus.getTrigger().getMath())
    assert {bolus.getEventAssignment(i).getVariable() for i in range(bolus.getNumEventAssignments())} \
        == {"peritoneum__free", "peritoneum__dead"}
    assert "peritoneum__free" in [model.getSpecies(i).getId() for i in range(model.getNumSpecies())]
    inf = model.getParameter("inf_1")
    assert inf.getValue() == 0.0 and not inf.getConstant()
    feeds = [r for r in model.getListOfReactions() if r.getId().startswith("inf_1_")]
    assert {r.getProduct(0).getSpecies() for r in feeds} == {"blood__venous", "lung__dead"}  # dead cells lodge
    assert all(r.getNumReactants() == 0 for r in feeds)

    vaso = _scenario(tmp_path, VASODILATOR, "v.toml")
    net = build_network(vaso)
    model = libsbml.readSBMLFromString(export_sbml(vaso)).getModel()
    flag = model.getParameter("vasodilated")
    assert flag is not None and flag.getValue() == 1.0 and not flag.getConstant()  # window opens at 0
    assert model.getParameter("inf_1").getValue() == pytest.approx(5e5 / (10 / 60))
    # vasodilator windows (0-1.17 h, 72-73 h) end before priming (168 h): no primed+vasodilated
    assert set(net.modes) == {"base", "vasodilated", "primed"}
    switches = {"vasodilated", "primed"}
    assert all(not model.getParameter(sid).getConstant() for sid in switches)
    switched = [r for r in model.getListOfReactions()
                if switches & set(re.findall(r"\w+", libsbml.formulaToL3String(r.getKineticLaw().getMath())))]
    assert all(len(trs) == len(net.modes["base"]) for trs in net.modes.values())
    n_diff = sum(1 for ts in zip(*net.modes.values()) if len({t.rate for t in ts}) > 1)
    assert n_diff > 0 and len(switched) == n_diff
    n_vaso = sum(1 for a, b in zip(net.modes["base"], net.modes["vasodilated"]) if a.rate != b.rate)
    n_primed = sum(1 for a, b in zip(net.modes["base"], net.modes["primed"]) if a.rate != b.rate)
    assert 0 < n_vaso < n_diff and 0 < n_primed < n_diff


def test_atomic_write_and_bad_option(tmp_path):
    sc = mscpk.load_scenario(IV_MOUSE)
    out = tmp_path / "model.xml"
    xml = export_sbml(sc, out)
    assert out.read_text(encoding="utf-8") == xml
    assert [p.name for p in tmp_path.iterdir()] == ["model.xml"]  # no temp file left
    with pytest.raises(OSError):
        export_sbml(sc, tmp_path / "missing_dir" / "model.xml")
    assert [p.name for p in tmp_path.iterdir()] == ["model.xml"]
    with pytest.raises(ScenarioError):
        export_sbml(sc, saturation="sometimes")


# --------------------------------------------------------------------------------------
# 2-4. libroadrunner reproduces mscpk.simulate

def test_roadrunner_matches_iv_mouse():
    pytest.importorskip("roadrunner")
    sc = mscpk.load_scenario(IV_MOUSE)
    dev, balance = _max_deviation(sc, "off")
    assert dev <= AGREEMENT, dev
    assert balance <= AGREEMENT, balance


def test_roadrunner_matches_multi_dose_infusion_ip(tmp_path):
    pytest.importorskip("roadrunner")
    sc = _scenario(tmp_path, MULTI_DOSE)
    dev, balance = _max_deviation(sc, "off")
    assert dev <= AGREEMENT, dev
    assert balance <= AGREEMENT, balance


def test_roadrunner_matches_vasodilator(tmp_path):
    pytest.importorskip("roadrunner")
    sc = _scenario(tmp_path, VASODILATOR)
    dev, balance = _max_deviation(sc, "off")
    assert dev <= AGREEMENT, dev
    assert balance <= AGREEMENT, balance


def test_roadrunner_matches_saturation_on(tmp_path):
    pytest.importorskip("roadrunner")
    sc = _scenario(tmp_path, HIGH_DOSE)
    # the test is only meaningful if saturation changes the answer well beyond the tolerance
    on, off = mscpk.simulate(sc, saturation="on"), mscpk.simulate(sc, saturation="off")
    assert np.max(np.abs(on.states - off.states)) / 5e6 > 10 * AGREEMENT_SATURATION
    dev, balance = _max_deviation(sc, "on")
    assert dev <= AGREEMENT_SATURATION, dev
    assert balance <= AGREEMENT_SATURATION, balance
    # "auto" (the scenario default) resolves as mscpk.simulate does: saturated here
    assert export_sbml(sc, saturation=None) == export_sbml(sc, saturation="on")


def test_roadrunner_matches_priming(tmp_path):
    """Adaptive immune priming (from 120 h) with vasodilator windows before and after it:
    modes vasodilated, base, primed, primed+vasodilated, primed; one switch per mode."""
    pytest.importorskip("roadrunner")
    sc = _scenario(tmp_path, PRIMING)
    net = build_network(sc)
    assert [m for _, _, m in net.schedule] == ["vasodilated", "primed", "primed+vasodilated", "primed"]
    assert net.schedule[1][0] == 120.0 and net.schedule[-1][1] == float("inf")
    model = libsbml.readSBMLFromString(export_sbml(sc)).getModel()
    assert model.getParameter("primed_vasodilated").getValue() == 0.0
    assert model.getParameter("vasodilated").getValue() == 1.0
    dev, balance = _max_deviation(sc, "off")
    assert dev <= AGREEMENT, dev
    assert balance <= AGREEMENT, balance
    # the priming matters here far beyond the tolerance
    primed = mscpk.simulate(sc, times_h=[672.0])
    sc1 = sc.model_copy(update={"parameters": {**sc.parameters, "Primed immune hazard factor [-]": 1.0}})
    ref = mscpk.simulate(sc1, times_h=[672.0])
    assert primed.live_total()[0] < 0.5 * ref.live_total()[0]


COURSE = HEADER.format(name="IV 2 days after an acute infarct (disease course)") + """
[[subject.injury]]
site = "heart"
course = "acute_mi"
onset_h = -48.0

[[dose]]
route = "iv"
cells = 5e5

[run]
end_h = 336.0
"""


def test_roadrunner_matches_a_disease_course(tmp_path):
    """One mode per course interval (the injury's level falling), switched by events; priming
    from 168 h combines with the course ("primed+course8")."""
    pytest.importorskip("roadrunner")
    sc = _scenario(tmp_path, COURSE)
    net = build_network(sc)
    modes = [m for _, _, m in net.schedule]
    assert sum(m.startswith("course") for m in modes) > 3 and any(m.startswith("primed+course") for m in modes)
    dev, balance = _max_deviation(sc, "off")
    assert dev <= AGREEMENT, dev
    assert balance <= AGREEMENT, balance
