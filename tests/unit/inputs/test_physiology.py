"""Tests of the species physiology data files and their loader (mscpk.inputs.physiology)."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import pytest
from scipy.stats import lognorm

from mscpk.errors import ParameterError, PhysiologyError, ScenarioError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.physiology import (
    REQUIRED_ORGANS,
    Species,
    apply_physiology,
    available_species,
    load_species,
    physiology_names,
    species_from_file,
)
from tests.helpers import make

SPECIES = ("mouse", "rat", "dog", "pig", "human")
DATA_DIR = Path(__file__).resolve().parents[3] / "src" / "mscpk" / "data" / "species"


def lognormal_cdf(x_um: float, median_um: float, gsd: float) -> float:
    """Fraction of lognormally distributed diameters below x (scipy as an independent check)."""
    return float(lognorm.cdf(x_um, s=math.log(gsd), scale=median_um))


# ------------------------------------------------------------------------------------------
# packaged data
# ------------------------------------------------------------------------------------------
def test_available_species_lists_all_five() -> None:
    assert set(SPECIES) <= set(available_species())


@pytest.mark.parametrize("name", SPECIES)
def test_every_species_loads_with_required_organs(name: str) -> None:
    sp = load_species(name)
    assert isinstance(sp, Species)
    assert sp.name == name
    assert set(REQUIRED_ORGANS) <= set(sp.organ_names())
    assert sp.organ_names() == tuple(sp.organs)
    assert sp.organs["gut"].drains_to == "liver"
    assert sp.organs["spleen"].drains_to == "liver"
    assert sp.organs["liver"].drains_to is None
    assert sp.organs["lung"].flow_fraction == pytest.approx(1.0)
    assert 0 < sp.venous_fraction < 1
    assert sp.cells_per_gram_tissue > 0


@pytest.mark.parametrize("name", SPECIES)
def test_flow_fractions_sum_to_one(name: str) -> None:
    sp = load_species(name)
    total = sum(o.flow_fraction for n, o in sp.organs.items() if n != "lung")
    # the loader accepts |sum - 1| <= 0.01; the packaged files define "rest" as the remainder,
    # so they must sum to 1 exactly (to rounding)
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", SPECIES)
def test_all_volumes_positive_and_below_body_weight(name: str) -> None:
    sp = load_species(name)
    assert sp.body_weight_kg > 0 and sp.cardiac_output_L_per_h > 0 and sp.blood_volume_L > 0
    for o in sp.organs.values():
        assert o.volume_L > 0, o.name
        assert 0 <= o.residual_blood_fraction <= 1, o.name
        assert o.capillary.median_um > 0 and o.capillary.gsd > 1 and o.capillary.segments >= 1
        assert o.depth_mm >= 0
    assert sum(o.volume_L for o in sp.organs.values()) + sp.blood_volume_L <= sp.body_weight_kg * (1 + 1e-6)


def test_mouse_organ_volumes_sum_below_body_weight() -> None:
    sp = load_species("mouse")
    non_rest = sum(o.volume_L for n, o in sp.organs.items() if n != "rest")
    assert non_rest + sp.blood_volume_L < sp.body_weight_kg  # 0.025 kg -> 0.025 L
    assert sp.organs["rest"].volume_L > 0


def test_canonical_units() -> None:
    mouse = load_species("mouse")
    # 13.98 mL/min -> 0.8388 L/h; 0.73 % of 25 g lung -> 0.1825 mL
    assert mouse.cardiac_output_L_per_h == pytest.approx(13.98 * 60 / 1000)
    assert mouse.organs["lung"].volume_L == pytest.approx(0.1825e-3)
    assert mouse.blood_volume_L == pytest.approx(1.8e-3)
    human = load_species("human")
    assert human.cardiac_output_L_per_h == pytest.approx(5.6 * 60)
    assert human.organs["liver"].depth_mm > 5 * mouse.organs["liver"].depth_mm


@pytest.mark.parametrize(("name", "target"), [("human", 0.61), ("dog", 0.67)])
def test_lung_capillary_fraction_below_7um_matches_doerschuk(name: str, target: float) -> None:
    cap = load_species(name).organs["lung"].capillary
    frac = lognormal_cdf(7.0, cap.median_um, cap.gsd)
    assert frac == pytest.approx(target, abs=0.02)
    assert cap.fraction_below(7.0) == pytest.approx(frac, rel=1e-9)


def test_sinusoids_wider_than_ordinary_capillaries() -> None:
    for name in SPECIES:
        sp = load_species(name)
        muscle = sp.organs["muscle"].capillary.median_um
        assert sp.organs["liver"].capillary.median_um > muscle
        assert sp.organs["spleen"].capillary.median_um > muscle
        assert sp.organs["bone_marrow"].capillary.median_um > muscle


def test_human_organs_deeper_than_mouse() -> None:
    mouse, human = load_species("mouse"), load_species("human")
    for organ in REQUIRED_ORGANS:
        assert human.organs[organ].depth_mm >= mouse.organs[organ].depth_mm


@pytest.mark.parametrize("name", SPECIES)
def test_every_value_has_a_source(name: str) -> None:
    sp = load_species(name)
    assert set(sp.sources) == {
        "body_weight", "cardiac_output", "blood_volume", "venous_fraction", "cells_per_gram_tissue"
    }
    assert all(isinstance(s, str) and s.strip() for s in sp.sources.values())
    for o in sp.organs.values():
        assert len(o.sources) == 7, o.name
        assert all(s.strip() for s in o.sources.values()), o.name
    rows = sp.parameter_rows()
    assert rows and all(src.strip() for _, _, _, src in rows)
    # and in the raw file: every value table carries value, unit, source
    raw = tomllib.loads((DATA_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    tables = list(raw["body"].values())
    for org in raw["organs"].values():
        tables += [v for k, v in org.items() if k != "drains_to"]
    for t in tables:
        assert set(t) == {"value", "unit", "source"}
        assert t["source"].strip()
    rng = raw["plausible"]["body_weight"]
    assert set(rng) == {"min", "max", "unit", "source"} and rng["unit"] == "kg" and rng["source"].strip()
    assert sp.plausible_body_weight_kg == (rng["min"], rng["max"])
    assert rng["min"] < sp.body_weight_kg < rng["max"]


def test_rest_sources_say_remainder() -> None:
    for name in SPECIES:
        rest = load_species(name).organs["rest"]
        assert "remainder" in rest.sources["volume"]
        assert "remainder" in rest.sources["blood_flow"]


def test_parameter_rows_names() -> None:
    rows = load_species("rat").parameter_rows()
    names = [r[0] for r in rows]
    for expected in (
        "Body weight [kg]",
        "Cardiac output [L/h]",
        "Blood volume [L]",
        "Liver volume [L]",
        "Liver blood flow fraction [-]",
        "Lung capillary median diameter [um]",
        "Bone marrow volume [L]",
    ):
        assert expected in names
    assert len(names) == len(set(names))
    for name, value, unit, _ in rows:
        assert isinstance(value, float)
        assert name.endswith(f"[{unit}]")


def test_load_is_cached_and_case_insensitive() -> None:
    assert load_species("mouse") is load_species("Mouse")


def test_species_is_immutable() -> None:
    sp = load_species("mouse")
    with pytest.raises(Exception):
        sp.body_weight_kg = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        sp.organs["new"] = sp.organs["lung"]  # type: ignore[index]


# ------------------------------------------------------------------------------------------
# scaling
# ------------------------------------------------------------------------------------------
def test_scaling_keeps_fractions_and_scales_cardiac_output() -> None:
    ref = load_species("rat")
    big = load_species("rat", body_weight_kg=0.5)
    ratio = 0.5 / ref.body_weight_kg
    assert big is not ref
    assert big.body_weight_kg == pytest.approx(0.5)
    assert big.cardiac_output_L_per_h == pytest.approx(ref.cardiac_output_L_per_h * ratio**0.75)
    assert big.blood_volume_L == pytest.approx(ref.blood_volume_L * ratio)
    assert big.venous_fraction == ref.venous_fraction
    for name, o in ref.organs.items():
        b = big.organs[name]
        assert b.volume_L == pytest.approx(o.volume_L * ratio)
        assert b.flow_fraction == o.flow_fraction
        assert b.residual_blood_fraction == o.residual_blood_fraction
        assert b.capillary == o.capillary
        assert b.drains_to == o.drains_to
    # the cached reference object is untouched
    assert load_species("rat").body_weight_kg == pytest.approx(0.25)
    assert "scaled" in big.sources["cardiac_output"]


def test_scaling_rejects_bad_weight() -> None:
    with pytest.raises(PhysiologyError, match=r"'Body weight \[kg\]' = -1 must be > 0"):
        load_species("mouse", body_weight_kg=-1.0)
    with pytest.raises(PhysiologyError):
        load_species("mouse", body_weight_kg=0.0)


# ------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------
def test_unknown_species_suggests_and_lists() -> None:
    with pytest.raises(PhysiologyError) as exc:
        load_species("mosue")
    msg = str(exc.value)
    assert "did you mean 'mouse'" in msg
    for name in SPECIES:
        assert name in msg


def test_user_file_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "my_mouse.toml"
    p.write_text((DATA_DIR / "mouse.toml").read_text(encoding="utf-8"), encoding="utf-8")
    sp = species_from_file(p)
    assert sp == load_species("mouse")


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(PhysiologyError, match="cannot read"):
        species_from_file(tmp_path / "nope.toml")


def test_invalid_toml_raises(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("name = \n", encoding="utf-8")
    with pytest.raises(PhysiologyError, match="invalid TOML"):
        species_from_file(p)


def _mouse_text() -> str:
    return (DATA_DIR / "mouse.toml").read_text(encoding="utf-8")


def _set(text: str, organ: str | None, fld: str, new: str) -> str:
    """Replace the `value` (or the whole right-hand side) of one field in one section."""
    section = "[body]" if organ is None else f"[{organ}]" if organ == "plausible" else f"[organs.{organ}]"
    start = text.index(section + "\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end == -1 else end
    block = text[start:end]
    pattern = re.compile(rf"^{fld} = .*$", re.M)
    assert pattern.search(block), (section, fld)
    block = pattern.sub(lambda _m: f"{fld} = {new}", block, count=1)
    return text[:start] + block + text[end:]


def _drop_line(text: str, organ: str | None, fld: str) -> str:
    section = "[body]" if organ is None else f"[organs.{organ}]"
    start = text.index(section + "\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end == -1 else end
    block = re.sub(rf"^{fld} = .*\n", "", text[start:end], count=1, flags=re.M)
    return text[:start] + block + text[end:]


def _drop_organ(text: str, organ: str) -> str:
    start = text.index(f"[organs.{organ}]\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end == -1 else end + 1
    return text[:start] + text[end:]


def _add_to(text: str, organ: str | None, line: str) -> str:
    section = "[body]" if organ is None else f"[organs.{organ}]"
    i = text.index(section + "\n") + len(section) + 1
    return text[:i] + line + "\n" + text[i:]


def _q(value: object, unit: str = "dimensionless") -> str:
    return f'{{ value = {value}, unit = "{unit}", source = "test" }}'


BAD_CASES = {
    "missing_organ": (lambda t: _drop_organ(t, "spleen"), ["spleen"]),
    "missing_field": (lambda t: _drop_line(t, "kidney", "capillary_gsd"), ["kidney", "capillary_gsd"]),
    "missing_body_field": (lambda t: _drop_line(t, None, "blood_volume"), ["blood_volume"]),
    "unknown_field": (lambda t: _add_to(t, "heart", f"volumne = {_q(0.1, 'mL')}"), ["heart", "volumne"]),
    "unknown_body_field": (lambda t: _add_to(t, None, f"hematocrit = {_q(0.45)}"), ["hematocrit"]),
    "unknown_value_key": (
        lambda t: _set(t, "brain", "depth", '{ value = 2, unit = "mm", source = "x", note = "y" }'),
        ["brain", "depth", "note"],
    ),
    "negative_volume": (lambda t: _set(t, "liver", "volume", _q(-1.0, "mL")),
                        ["liver", "volume", "'Liver volume [L]' = -0.001", "> 0"]),
    "nan_volume": (lambda t: _set(t, "liver", "volume", _q("nan", "mL")), ["liver", "volume", "nan", "finite"]),
    "body_weight_implausible": (lambda t: _set(t, None, "body_weight", _q(0.5, "kg")),
                                ["Body weight [kg]", "0.5", "plausible range [0.01, 0.1] kg"]),
    "no_plausible_range": (lambda t: re.sub(r"\[plausible\]\nbody_weight = .*\n", "", t), ["[plausible]"]),
    "plausible_range_reversed": (
        lambda t: _set(t, "plausible", "body_weight", '{ min = 0.1, max = 0.01, unit = "kg", source = "x" }'),
        ["[plausible]", "min", "max"],
    ),
    "zero_flow": (lambda t: _set(t, "muscle", "blood_flow", _q(0.0)), ["muscle", "blood_flow"]),
    "non_positive_median": (lambda t: _set(t, "skin", "capillary_median", _q(0.0, "um")), ["skin", "capillary_median"]),
    "gsd_not_above_one": (lambda t: _set(t, "gut", "capillary_gsd", _q(1.0)), ["gut", "capillary_gsd", "> 1"]),
    "residual_blood_above_one": (lambda t: _set(t, "spleen", "residual_blood", _q(1.5)), ["spleen", "residual_blood", "[0, 1]"]),
    "venous_fraction_out_of_range": (lambda t: _set(t, None, "venous_fraction", _q(1.2)), ["venous_fraction"]),
    "flow_fraction_above_one": (lambda t: _set(t, "adipose", "blood_flow", _q(1.3)), ["adipose", "blood_flow"]),
    "flows_do_not_sum": (lambda t: _set(t, "rest", "blood_flow", _q(0.5)), ["blood_flow", "sum", "rest"]),
    "lung_flow_not_one": (lambda t: _set(t, "lung", "blood_flow", _q(0.9)), ["lung", "blood_flow", "1.0"]),
    "drains_to_non_organ": (lambda t: _set(t, "gut", "drains_to", '"livr"'), ["gut", "drains_to", "livr", "liver"]),
    "drains_to_portal_organ": (lambda t: _set(t, "gut", "drains_to", '"spleen"'), ["gut", "drains_to", "spleen", "portal"]),
    "volumes_exceed_body_weight": (lambda t: _set(t, "muscle", "volume", _q(30.0, "mL")), ["volume", "exceed", "body weight"]),
    "unit_not_convertible": (lambda t: _set(t, "kidney", "volume", _q(0.4, "g")), ["kidney", "volume", "g"]),
    "unit_undefined": (lambda t: _set(t, "heart", "depth", _q(4, "furlongz")), ["heart", "depth", "furlongz"]),
    "empty_source": (
        lambda t: _set(t, "brain", "volume", '{ value = 0.4, unit = "mL", source = "" }'),
        ["brain", "volume", "source"],
    ),
    "value_not_number": (lambda t: _set(t, "liver", "depth", '{ value = "deep", unit = "mm", source = "x" }'), ["liver", "depth", "deep"]),
    "bad_cardiac_output_unit": (lambda t: _set(t, None, "cardiac_output", _q(14, "mL")), ["cardiac_output", "L/h"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_validation_errors_name_the_culprit(case: str, tmp_path: Path) -> None:
    mutate, needles = BAD_CASES[case]
    p = tmp_path / f"{case}.toml"
    p.write_text(mutate(_mouse_text()), encoding="utf-8")
    with pytest.raises(PhysiologyError) as exc:
        species_from_file(p)
    msg = str(exc.value)
    assert "mouse" in msg
    for needle in needles:
        assert needle in msg, (case, msg)


def test_percent_units_are_converted(tmp_path: Path) -> None:
    text = _set(_mouse_text(), "liver", "residual_blood", '{ value = 31, unit = "percent", source = "x" }')
    p = tmp_path / "pct.toml"
    p.write_text(text, encoding="utf-8")
    assert species_from_file(p).organs["liver"].residual_blood_fraction == pytest.approx(0.31)


def test_extra_organ_is_allowed(tmp_path: Path) -> None:
    text = _mouse_text()
    text = _set(text, "rest", "volume", _q(3.0, "mL"))
    text = _set(text, "rest", "blood_flow", _q(0.242))
    text += (
        "\n[organs.pancreas]\ndrains_to = \"liver\"\n"
        f"volume = {_q(0.2, 'mL')}\nblood_flow = {_q(0.01)}\nresidual_blood = {_q(0.05)}\n"
        f"depth = {_q(3, 'mm')}\ncapillary_median = {_q(5.0, 'um')}\ncapillary_gsd = {_q(1.3)}\n"
        f"capillary_segments = {_q(10)}\n"
    )
    p = tmp_path / "pancreas.toml"
    p.write_text(text, encoding="utf-8")
    sp = species_from_file(p)
    assert sp.organ_names()[-1] == "pancreas"
    assert set(sp.portal_organs()) == {"gut", "spleen", "pancreas"}


# ------------------------------------------------------------------------------------------
# [parameters] overrides and subject.body_weight_kg: checked like a species file
# ------------------------------------------------------------------------------------------
def test_names_match_parameter_rows_and_overrides_apply() -> None:
    sp = load_species("rat")
    assert physiology_names(sp) == tuple(r[0] for r in sp.parameter_rows())
    new = apply_physiology(sp, {"Cardiac output [L/h]": 5.0, "Liver capillary geometric SD [-]": 1.6,
                                "Brain depth [mm]": 0.0})
    assert new.cardiac_output_L_per_h == 5.0
    assert new.organs["liver"].capillary.gsd == 1.6 and new.organs["liver"].capillary.median_um == \
        sp.organs["liver"].capillary.median_um
    assert new.organs["brain"].depth_mm == 0.0
    assert apply_physiology(sp, {}) is sp


def test_unknown_override_suggests() -> None:
    with pytest.raises(ParameterError, match="did you mean 'Liver volume \\[L\\]'"):
        apply_physiology(load_species("mouse"), {"Livr volume [L]": 1e-3})


BAD_OVERRIDES = {
    "nan_volume": ({"Liver volume [L]": math.nan}, "'Liver volume [L]' = nan must be a finite number > 0"),
    "inf_cardiac_output": ({"Cardiac output [L/h]": math.inf},
                           "'Cardiac output [L/h]' = inf must be a finite number > 0"),
    "residual_blood_above_one": ({"Liver residual blood fraction [-]": 5.0},
                                 "'Liver residual blood fraction [-]' = 5 must be in [0, 1]"),
    "venous_fraction_one": ({"Venous blood fraction [-]": 1.0}, "'Venous blood fraction [-]' = 1 must be in (0, 1)"),
    "venous_fraction_above_one": ({"Venous blood fraction [-]": 1.5},
                                  "'Venous blood fraction [-]' = 1.5 must be in (0, 1)"),
    "gsd_below_one": ({"Liver capillary geometric SD [-]": 0.5},
                      "'Liver capillary geometric SD [-]' = 0.5 must be > 1"),
    "blood_above_body_weight": ({"Blood volume [L]": 1000.0},
                                "'Blood volume [L]' = 1000 must be below the body weight 0.025 kg"),
    "heavy_mouse": ({"Body weight [kg]": 0.5},
                    "'Body weight [kg]' = 0.5 is outside the plausible range [0.01, 0.1] kg for a mouse"),
    "flows_do_not_sum": ({"Liver blood flow fraction [-]": 0.5}, "sum to"),
}


@pytest.mark.parametrize("case", sorted(BAD_OVERRIDES))
def test_bad_override_is_refused_naming_parameter_value_and_range(case: str) -> None:
    overrides, needle = BAD_OVERRIDES[case]
    with pytest.raises(ParameterError) as exc:
        apply_physiology(load_species("mouse"), overrides)
    assert needle in str(exc.value)
    with pytest.raises(ScenarioError) as exc:  # the same through a scenario's [parameters]
        make(params=overrides)
    assert str(exc.value).startswith("parameters: species 'mouse': ") and needle in str(exc.value)


def _raw_mouse(body_weight_kg: float) -> dict:
    return {"subject": {"species": "mouse", "body_weight_kg": body_weight_kg},
            "dose": [{"route": "iv", "cells": 1e6}], "run": {"end_h": 24.0}}


def test_subject_body_weight_must_be_plausible_for_the_species() -> None:
    assert scenario_from_dict(_raw_mouse(0.04)).subject.body_weight_kg == 0.04
    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict(_raw_mouse(0.5))
    assert str(exc.value) == ("subject: species 'mouse': 'Body weight [kg]' = 0.5 is outside the plausible "
                              "range [0.01, 0.1] kg for a mouse (species file: [plausible] body_weight)")
    with pytest.raises(PhysiologyError, match="plausible range"):
        load_species("mouse", body_weight_kg=0.5)
    assert load_species("human", body_weight_kg=120.0).body_weight_kg == 120.0


def test_a_species_file_with_a_byte_order_mark_reads(tmp_path):
    from mscpk.inputs.physiology import species_from_file

    text = (DATA_DIR / "mouse.toml").read_text(encoding="utf-8")
    p = tmp_path / "mouse_bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert species_from_file(p).name == "mouse"


def test_age_covariate_follows_icrp_89_and_keeps_the_adult():
    from mscpk.inputs.physiology import load_species
    from mscpk.inputs.physiology.age import at_age

    adult = load_species("human")
    same = at_age(adult, 35.0)
    assert same.body_weight_kg == adult.body_weight_kg
    assert all(same.organs[o].volume_L == pytest.approx(adult.organs[o].volume_L, rel=1e-12) for o in adult.organs)
    child = at_age(adult, 10.0)
    assert child.body_weight_kg == pytest.approx(70.0 * 32000 / 73000)  # ICRP 89 body mass, 10 y / adult male
    # liver fraction rises from 1800/73000 (adult) to 830/32000 (10 y), relative to the species' own fraction
    frac = child.organs["liver"].volume_L / child.body_weight_kg
    assert frac == pytest.approx(adult.organs["liver"].volume_L / 70.0 * (830 / 32000) / (1800 / 73000), rel=1e-9)
    # the body's volume is that of the allometrically scaled species: 'rest' takes the difference
    scaled = adult.scaled(child.body_weight_kg)
    assert sum(o.volume_L for o in child.organs.values()) == pytest.approx(sum(o.volume_L for o in scaled.organs.values()))
    with pytest.raises(ParameterError, match="for 'human' only"):
        at_age(load_species("mouse"), 1.0)


def test_sex_and_age_set_heart_brain_gut_and_marrow_from_icrp_89():
    from mscpk.inputs.physiology import load_species
    from mscpk.inputs.physiology.age import at_age

    adult = load_species("human")
    frac = lambda sp, o: sp.organs[o].volume_L / sp.body_weight_kg  # noqa: E731
    woman = at_age(adult, 40.0, "female")
    assert woman.body_weight_kg == pytest.approx(70.0 * 60000 / 73000)  # ICRP 89 adult female / male body mass
    # organ fractions move from the adult male's to the adult female's (ICRP 89: muscle 17.5 of 60 kg, 29 of 73 kg)
    assert frac(woman, "muscle") == pytest.approx(frac(adult, "muscle") * (17500 / 60000) / (29000 / 73000), rel=1e-9)
    assert frac(woman, "bone_marrow") == pytest.approx(frac(adult, "bone_marrow") * (900 / 60000) / (1170 / 73000),
                                                       rel=1e-9)
    # an infant's brain is ~11 % of its body (380 of 3500 g), not the adult's 2 % (it is no longer allometric)
    baby = at_age(adult, 0.0)
    assert frac(baby, "brain") == pytest.approx(frac(adult, "brain") * (380 / 3500) / (1450 / 73000), rel=1e-9)
    assert frac(baby, "brain") > 0.1
    assert frac(baby, "heart") == pytest.approx(frac(adult, "heart") * (20 / 3500) / (330 / 73000), rel=1e-9)
    assert frac(baby, "gut") == pytest.approx(frac(adult, "gut") * (37 / 3500) / (800 / 73000), rel=1e-9)
    # children share one column for both sexes up to 10 y
    assert at_age(adult, 8.0, "female").organs["liver"].volume_L == at_age(adult, 8.0, "male").organs["liver"].volume_L
    with pytest.raises(ParameterError, match="covariate.sex: 'other' is not allowed; allowed: male, female"):
        at_age(adult, 30.0, "other")


def test_age_and_sex_arrays_are_each_subjects_own_species():
    import numpy as np

    from mscpk.inputs.physiology import load_species
    from mscpk.inputs.physiology.age import at_age, physiology_at_age

    adult = load_species("human")
    ages, sexes = np.array([0.5, 7.0, 15.0, 33.0]), np.array(["female", "male", "female", "male"], dtype=object)
    many = physiology_at_age(adult, ages, sexes)
    for i, (a, s) in enumerate(zip(ages, sexes)):
        one = at_age(adult, float(a), s).parameter_values()
        assert all(many[k][i] == pytest.approx(one[k], rel=1e-12) for k in one)
