"""Tests of mscpk.inputs.studydata: reading, validation, BLQ flagging, units and to_cells."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscpk.errors import DataError
from mscpk.inputs.studydata import (
    ALLOWED_UNITS,
    MAX_PROBLEM_LINES,
    StudyData,
    UnitOptions,
    read_study,
    study_from_frame,
    to_cells,
    unit_ratio,
)


def write(tmp_path: Path, text: str, name: str = "study.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def error_of(path: Path, **kw) -> str:
    with pytest.raises(DataError) as exc:
        read_study(path, **kw)
    return str(exc.value)


# --------------------------------------------------------------------------------------
# Reading and normalisation
# --------------------------------------------------------------------------------------


def test_reads_case_insensitive_columns_and_normalises(tmp_path):
    p = write(tmp_path, (
        "id,Time,dv,Site,dvu,Group,route,Assay\n"
        "m1,0.5,1200,Lung,cells,A,IV,qPCR\n"
        "m1,24,300,Bone Marrow,Cells,A,IV,qPCR\n"
        "m2,0.5,1000,lung,CELLS,B,iv,qpcr\n"
    ))
    s = read_study(p)
    assert isinstance(s, StudyData)
    f = s.frame
    assert list(f.columns[:9]) == ["ROW", "GROUP", "ID", "TIME", "SITE", "DV", "DVU", "CENS",
                                   "LLOQ"]
    assert f["ROW"].tolist() == [2, 3, 4]
    assert f["SITE"].tolist() == ["lung", "bone_marrow", "lung"]
    assert f["DVU"].tolist() == ["cells"] * 3
    assert f["DV"].tolist() == [1200.0, 300.0, 1000.0]
    assert f["DV"].dtype == float and f["TIME"].dtype == float
    assert f["CENS"].tolist() == [0, 0, 0]
    assert f["ROUTE"].tolist() == ["iv", "iv", "iv"]
    assert f["ASSAY"].tolist() == ["qpcr"] * 3
    assert f["GROUP"].tolist() == ["A", "A", "B"]
    assert not s.is_summary
    assert len(s.excluded) == 0


def test_group_defaults_to_all_and_unit_to_cells_without_dvu(tmp_path):
    s = read_study(write(tmp_path, "ID,TIME,DV,SITE\n1,1,10,liver\n"))
    assert s.frame["GROUP"].tolist() == ["all"]
    assert s.frame["DVU"].tolist() == ["cells"]


def test_default_unit_from_unit_options(tmp_path):
    p = write(tmp_path, "ID,TIME,DV,SITE\n1,1,10,liver\n")
    s = read_study(p, unit_options={"default_unit": "cells/g"})
    assert s.frame["DVU"].tolist() == ["cells/g"]
    with pytest.raises(DataError, match="default_unit"):
        read_study(p, unit_options={"default_unit": "furlongs"})
    with pytest.raises(DataError, match="unknown unit_options"):
        read_study(p, unit_options={"colour": "red"})


def test_unit_normalisation_scales_dv_lloq_and_sd(tmp_path):
    p = write(tmp_path, (
        "ID,TIME,DV,SITE,DVU,LLOQ,N,SD\n"
        "a,1,5,liver,cells/mg,0.01,3,1\n"
        "a,1,2,blood,cells/µL,0.5,3,0.2\n"
        "a,1,7,lung,cells/g,1,3,2\n"
    ))
    f = read_study(p).frame
    # 1 cell/mg = 1000 cells/g; 1 cell/uL = 1000 cells/mL
    assert f["DVU"].tolist() == ["cells/g", "cells/mL", "cells/g"]
    assert f["DV"].tolist() == pytest.approx([5000.0, 2000.0, 7.0])
    assert f["LLOQ"].tolist() == pytest.approx([10.0, 500.0, 1.0])
    assert f["SD"].tolist() == pytest.approx([1000.0, 200.0, 2.0])
    assert f["DVU_REPORTED"].tolist() == ["cells/mg", "cells/µL", "cells/g"]
    g = read_study(p, unit_options=UnitOptions(normalise=False)).frame
    assert g["DVU"].tolist() == ["cells/mg", "cells/uL", "cells/g"]
    assert g["DV"].tolist() == [5.0, 2.0, 7.0]


def test_every_allowed_unit_is_accepted(tmp_path):
    lines = ["ID,TIME,DV,SITE,DVU"]
    for i, u in enumerate(ALLOWED_UNITS):
        lines.append(f"a,{i},1,s{i},{u}")
    s = read_study(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(s.frame) == len(ALLOWED_UNITS)


def test_semicolon_separated_and_bom(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_bytes("\ufeffID;TIME;DV;SITE\n1;2;30;heart\n".encode("utf-8"))
    f = read_study(p).frame
    assert f[["ID", "TIME", "DV", "SITE"]].values.tolist() == [["1", 2.0, 30.0, "heart"]]


def test_extra_columns_are_carried_along(tmp_path):
    f = read_study(write(tmp_path, "ID,TIME,DV,SITE,Sex\n1,2,30,heart,F\n")).frame
    assert f["SEX"].tolist() == ["F"]


def test_summary_data_detected(tmp_path):
    s = read_study(write(tmp_path, "ID,TIME,DV,SITE,N,SD\nref1,1,100,lung,5,10\n"))
    assert s.is_summary
    assert s.frame["N"].tolist() == [5.0]
    assert s.frame["SD"].tolist() == [10.0]


def test_ids_reused_in_other_groups_are_not_duplicates(tmp_path):
    s = read_study(write(tmp_path, "ID,TIME,DV,SITE,GROUP\n1,1,5,lung,A\n1,1,6,lung,B\n"))
    assert len(s.frame) == 2


def test_study_from_frame_validates_like_a_file():
    df = pd.DataFrame({"id": ["1", "1"], "time": [0, 1], "dv": [3.0, "x"], "site": ["lung"] * 2})
    with pytest.raises(DataError, match=r"row 3, column DV: DV 'x'"):
        study_from_frame(df)
    ok = study_from_frame(df.assign(dv=[3.0, 4.0]))
    assert ok.frame["DV"].tolist() == [3.0, 4.0]
    # a normalised frame re-validates to the same content
    again = study_from_frame(ok.frame)
    pd.testing.assert_frame_equal(again.frame[["ID", "TIME", "DV", "SITE", "DVU", "CENS"]],
                                  ok.frame[["ID", "TIME", "DV", "SITE", "DVU", "CENS"]])


def test_study_from_frame_treats_pandas_missing_values_as_missing():
    df = pd.DataFrame({"ID": ["1", "1"], "TIME": [1, 2], "SITE": ["lung", "lung"],
                       "DV": pd.array([5, pd.NA], dtype="Int64"),
                       "CENS": pd.array([0, 1], dtype="Int64")})
    s = study_from_frame(df)
    assert s.frame["CENS"].tolist() == [0, 1]
    assert s.frame["DV"].iloc[0] == 5 and math.isnan(s.frame["DV"].iloc[1])


# --------------------------------------------------------------------------------------
# BLQ / censoring and exclusions
# --------------------------------------------------------------------------------------


def test_blq_flagging(tmp_path):
    p = write(tmp_path, (
        "ID,TIME,DV,SITE,LLOQ,CENS\n"
        "a,1,50,lung,10,0\n"     # row 2: measured
        "a,2,4,lung,10,0\n"      # row 3: below LLOQ -> censored
        "a,3,,lung,10,1\n"       # row 4: censored, no DV -> kept
        "a,4,10,lung,,1\n"       # row 5: censored, no LLOQ -> DV is the LLOQ (NONMEM M3)
        "a,5,10,lung,10,0\n"     # row 6: at the LLOQ -> not below it, measured
    ))
    f = read_study(p).frame.set_index("ROW")
    assert f.loc[2, "CENS"] == 0 and f.loc[2, "DV"] == 50
    assert f.loc[3, "CENS"] == 1 and math.isnan(f.loc[3, "DV"]) and f.loc[3, "LLOQ"] == 10
    assert f.loc[4, "CENS"] == 1 and math.isnan(f.loc[4, "DV"]) and f.loc[4, "LLOQ"] == 10
    assert f.loc[5, "CENS"] == 1 and math.isnan(f.loc[5, "DV"]) and f.loc[5, "LLOQ"] == 10
    assert f.loc[6, "CENS"] == 0 and f.loc[6, "DV"] == 10


def test_censored_without_dv_and_without_lloq_is_kept(tmp_path):
    f = read_study(write(tmp_path, "ID,TIME,DV,SITE,CENS\na,1,,lung,1\n")).frame
    assert f["CENS"].tolist() == [1]
    assert math.isnan(f["LLOQ"].iloc[0])


def test_censored_value_above_lloq_is_an_error(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,LLOQ,CENS\na,1,50,lung,10,1\n"))
    assert "row 2, column DV" in msg and "CENS=1" in msg


def test_ct_censoring_direction(tmp_path):
    # for Ct a larger value means less target: Ct above the limit is below LLOQ
    p = write(tmp_path, ("ID,TIME,DV,SITE,DVU,LLOQ\n"
                         "a,1,30,lung,Ct,35\n"
                         "a,2,38,lung,Ct,35\n"))
    f = read_study(p).frame
    assert f["CENS"].tolist() == [0, 1]
    assert f["DV"].iloc[0] == 30 and math.isnan(f["DV"].iloc[1])


def test_missing_dv_not_censored_goes_to_excluded_with_reason(tmp_path):
    p = write(tmp_path, ("ID,TIME,DV,SITE,CENS\n"
                         "a,1,5,lung,0\n"
                         "a,2,,lung,0\n"
                         ",,,,\n"
                         "a,3,NA,lung,\n"))
    s = read_study(p)
    assert s.frame["ROW"].tolist() == [2]
    ex = s.excluded
    assert list(ex.columns) == ["ROW", "COLUMN", "VALUE", "REASON"]
    assert ex["ROW"].tolist() == [3, 4, 5]
    assert ex.set_index("ROW").loc[3, "COLUMN"] == "DV"
    assert "DV missing" in ex.set_index("ROW").loc[3, "REASON"]
    assert ex.set_index("ROW").loc[4, "REASON"] == "empty row"
    assert "not censored" in ex.set_index("ROW").loc[5, "REASON"]


def test_only_unusable_rows_is_an_error(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE\na,1,,lung\n"))
    assert "no usable rows" in msg and "row 2" in msg


# --------------------------------------------------------------------------------------
# Bad data: every problem with row and column
# --------------------------------------------------------------------------------------


def test_missing_required_column_names_it_and_lists_found(tmp_path):
    msg = error_of(write(tmp_path, "Id,Time,Site,Extra\n1,1,lung,x\n"))
    assert "missing required column DV" in msg
    assert "'Id'" in msg and "'Time'" in msg and "'Site'" in msg and "'Extra'" in msg


def test_missing_two_required_columns(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME\n1,1\n"))
    assert "DV, SITE" in msg


def test_empty_file(tmp_path):
    assert "empty" in error_of(write(tmp_path, ""))
    assert "empty" in error_of(write(tmp_path, "\n\n", name="blank.csv"))


def test_header_only(tmp_path):
    assert "no data rows" in error_of(write(tmp_path, "ID,TIME,DV,SITE\n"))


def test_text_in_dv(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE\n1,1,5,lung\n1,2,BLQ,lung\n"))
    assert "row 3, column DV" in msg and "'BLQ'" in msg


def test_negative_time(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE\n1,-2,5,lung\n"))
    assert "row 2, column TIME" in msg and "negative" in msg


def test_non_numeric_and_missing_time(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE\n1,1h,5,lung\n1,,5,liver\n"))
    assert "row 2, column TIME: TIME '1h' is not a number" in msg
    assert "row 3, column TIME: TIME is missing" in msg


def test_unknown_unit(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,DVU\n1,1,5,lung,cells\n1,2,5,lung,ng/mL\n"))
    assert "row 3, column DVU" in msg and "'ng/mL'" in msg
    for u in ALLOWED_UNITS:
        assert u in msg


def test_blank_unit_cell_is_an_error_not_a_guess(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,DVU\n1,1,5,lung,\n"))
    assert "row 2, column DVU" in msg


def test_duplicated_rows_name_both(tmp_path):
    msg = error_of(write(tmp_path, ("ID,TIME,DV,SITE,ASSAY\n"
                                    "1,1,5,lung,qpcr\n"
                                    "1,1,6,liver,qpcr\n"
                                    "1,1,7,Lung,qPCR\n"
                                    "1,1,8,lung,flow\n")))
    assert "duplicated" in msg and "rows 2 and 4" in msg
    assert "row 5" not in msg  # a different assay is not a duplicate


def test_cens_not_0_or_1(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,CENS\n1,1,5,lung,2\n1,2,5,lung,yes\n"))
    assert "row 2, column CENS" in msg and "row 3, column CENS" in msg


def test_invalid_n_and_sd(tmp_path):
    msg = error_of(write(tmp_path, ("ID,TIME,DV,SITE,N,SD\n"
                                    "r,1,5,lung,2.5,1\n"
                                    "r,2,5,lung,0,1\n"
                                    "r,3,5,lung,3,-1\n"
                                    "r,4,5,lung,,1\n"
                                    "r,5,5,lung,3,abc\n")))
    for row, col in ((2, "N"), (3, "N"), (4, "SD"), (5, "N"), (6, "SD")):
        assert f"row {row}, column {col}" in msg, (row, col, msg)


def test_sd_without_n(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,SD\nr,1,5,lung,1\n"))
    assert "column N" in msg


def test_negative_dv_lloq_dose(tmp_path):
    msg = error_of(write(tmp_path, "ID,TIME,DV,SITE,LLOQ,DOSE\n1,1,-5,lung,-1,0\n"))
    assert "row 2, column DV" in msg and "row 2, column LLOQ" in msg
    assert "row 2, column DOSE" in msg


def test_all_problems_collected_and_capped(tmp_path):
    lines = ["ID,TIME,DV,SITE"] + [f"a,{i},oops,lung" for i in range(30)]
    msg = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert "30 problems" in msg
    listed = [ln for ln in msg.splitlines() if "column DV" in ln]
    assert MAX_PROBLEM_LINES == 20
    assert len(listed) == 20
    assert "... and 10 more" in msg
    # rows are listed in file order starting from the first data row
    assert listed[0].strip().startswith("row 2,")


def test_several_kinds_of_problem_in_one_message(tmp_path):
    msg = error_of(write(tmp_path, ("ID,TIME,DV,SITE,DVU\n"
                                    "1,-1,5,lung,cells\n"
                                    "1,2,x,lung,cells\n"
                                    "1,3,5,lung,bananas\n")))
    assert "3 problems" in msg
    assert "row 2, column TIME" in msg and "row 3, column DV" in msg
    assert "row 4, column DVU" in msg


def test_unsupported_and_missing_files(tmp_path):
    assert "does not exist" in error_of(tmp_path / "nope.csv")
    assert "unsupported" in error_of(write(tmp_path, "{}", name="x.json"))
    assert ".xls" in error_of(write(tmp_path, "x", name="x.xls"))


# --------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------


def test_xlsx_round_trip(tmp_path):
    df = pd.DataFrame({
        "ID": [1, 1, 2, 2],
        "Time": [0.5, 24, 0.5, 24],
        "DV": [1200.0, 35.5, 900, None],
        "Site": ["lung", "lung", "liver", "liver"],
        "DVU": ["cells/mg", "cells/mg", "cells/g", "cells/g"],
        "LLOQ": [1, 1, 10, 10],
        "CENS": [0, 0, 0, 1],
    })
    xlsx = tmp_path / "study.xlsx"
    df.to_excel(xlsx, index=False, engine="openpyxl")
    csv_path = tmp_path / "study.csv"
    df.to_csv(csv_path, index=False)
    sx, sc = read_study(xlsx), read_study(csv_path)
    pd.testing.assert_frame_equal(sx.frame, sc.frame)
    f = sx.frame
    assert f["ID"].tolist() == ["1", "1", "2", "2"]
    assert f["DV"].iloc[:3].tolist() == pytest.approx([1.2e6, 35500.0, 900.0])
    assert f["CENS"].tolist() == [0, 0, 0, 1]
    assert f["ROW"].tolist() == [2, 3, 4, 5]


def test_xlsx_errors_use_sheet_row_numbers(tmp_path):
    df = pd.DataFrame({"ID": [1, 1], "TIME": [1, 2], "DV": [5, "many"], "SITE": ["a", "a"]})
    xlsx = tmp_path / "bad.xlsx"
    df.to_excel(xlsx, index=False, engine="openpyxl")
    assert "row 3, column DV: DV 'many'" in error_of(xlsx)


# --------------------------------------------------------------------------------------
# Conversion to cells
# --------------------------------------------------------------------------------------


def test_to_cells_linear_units(tmp_path):
    p = write(tmp_path, (
        "ID,TIME,DV,SITE,DVU,GROUP,DOSE,LLOQ\n"
        "a,1,500,liver,cells/g,A,,10\n"       # x 1.5 g
        "a,1,2,blood,cells/uL,A,,\n"          # 2000 cells/mL x 1.8 mL
        "a,1,4,lung,%ID,A,1e6,\n"             # 4 % of 1e6 cells
        "a,1,3,spleen,%ID/g,A,2e6,\n"         # 3 %/g x 0.1 g x 2e6
        "a,1,250,heart,copies/ug,A,,\n"       # 250 /ug x 60 ug / 2 copies per cell
        "a,1,42,kidney,cells,A,,\n"
    ))
    s = read_study(p)
    c = to_cells(s, tissue_mass_g={"liver": 1.5, "spleen": 0.1},
                 fluid_volume_ml={"blood": 1.8}, dna_mass_ug={("a", "heart"): 60.0},
                 copies_per_cell=2.0)
    f = c.frame.set_index("SITE")
    assert (c.frame["DVU"] == "cells").all()
    assert f.loc["liver", "DV"] == pytest.approx(500 * 1.5)
    assert f.loc["liver", "LLOQ"] == pytest.approx(10 * 1.5)
    assert f.loc["blood", "DV"] == pytest.approx(2 * 1000 * 1.8)
    assert f.loc["lung", "DV"] == pytest.approx(0.04 * 1e6)
    assert f.loc["spleen", "DV"] == pytest.approx(0.03 * 0.1 * 2e6)
    assert f.loc["heart", "DV"] == pytest.approx(250 * 60 / 2)
    assert f.loc["kidney", "DV"] == 42
    assert f.loc["liver", "DVU_ORIG"] == "cells/g" and f.loc["liver", "DV_ORIG"] == 500
    # the original StudyData is unchanged
    assert s.frame.set_index("SITE").loc["liver", "DV"] == 500


def test_to_cells_dose_argument_overrides_and_maps_by_group(tmp_path):
    p = write(tmp_path, "ID,TIME,DV,SITE,DVU,GROUP\na,1,10,lung,%ID,lo\nb,1,10,lung,%ID,hi\n")
    c = to_cells(read_study(p), dose={"lo": 1e5, "hi": 1e7}).frame
    assert c["DV"].tolist() == pytest.approx([1e4, 1e6])


def test_to_cells_ct_with_standard_curve(tmp_path):
    p = write(tmp_path, ("ID,TIME,DV,SITE,DVU,LLOQ\n"
                         "a,1,25,lung,Ct,36\n"
                         "a,2,37,lung,Ct,36\n"))
    s = read_study(p)
    slope, intercept = -3.3, 38.0
    c = to_cells(s, standard_curve=(slope, intercept), copies_per_cell=1.0,
                 dna_mass_ug={"lung": 200.0}, dna_per_reaction_ug=0.5).frame
    copies_rxn = 10 ** ((25 - intercept) / slope)       # Ct = b + m log10(copies)
    assert c["DV"].iloc[0] == pytest.approx(copies_rxn * 200.0 / 0.5)
    lloq_rxn = 10 ** ((36 - intercept) / slope)
    assert c["CENS"].tolist() == [0, 1]
    assert c["LLOQ"].tolist() == pytest.approx([lloq_rxn * 400.0] * 2)
    # curve in pg of donor DNA: cells = pg / 6.6
    d = to_cells(s, standard_curve=(slope, intercept), curve_quantity="pg",
                 dna_mass_ug=200.0, dna_per_reaction_ug=0.5).frame
    assert d["DV"].iloc[0] == pytest.approx(copies_rxn / 6.6 * 400.0)


def test_to_cells_refuses_missing_information_naming_it(tmp_path):
    p = write(tmp_path, ("ID,TIME,DV,SITE,DVU\n"
                         "a,1,5,liver,cells/g\n"
                         "a,2,5,liver,cells/g\n"
                         "a,1,5,blood,cells/mL\n"
                         "a,1,5,lung,%ID\n"
                         "a,1,30,gut,Ct\n"
                         "a,1,30,heart,copies/ug\n"))
    with pytest.raises(DataError) as exc:
        to_cells(read_study(p), tissue_mass_g={"lung": 0.2})
    msg = str(exc.value)
    assert "tissue_mass_g for SITE 'liver'" in msg and "rows 2, 3" in msg
    assert "fluid_volume_ml for SITE 'blood'" in msg and "row 4" in msg
    assert "dose" in msg and "row 5" in msg
    assert "dna_mass_ug" in msg and "row 6" in msg and "row 7" in msg


def test_to_cells_refuses_without_standard_curve_or_copies_per_cell(tmp_path):
    p = write(tmp_path, "ID,TIME,DV,SITE,DVU\na,1,30,gut,Ct\n")
    with pytest.raises(DataError, match=r"standard_curve"):
        to_cells(read_study(p), dna_mass_ug=10.0, copies_per_cell=1.0, dna_per_reaction_ug=0.1)
    with pytest.raises(DataError, match=r"copies_per_cell"):
        to_cells(read_study(p), dna_mass_ug=10.0, standard_curve=(-3.3, 38),
                 dna_per_reaction_ug=0.1)
    with pytest.raises(DataError, match=r"dna_per_reaction_ug"):
        to_cells(read_study(p), dna_mass_ug=10.0, standard_curve=(-3.3, 38),
                 copies_per_cell=1.0)
    with pytest.raises(DataError, match=r"slope must be negative"):
        to_cells(read_study(p), standard_curve=(3.3, 38))


def test_unit_ratio():
    assert unit_ratio("cells/g", "cells/mL") == "mL/g"
    assert unit_ratio("cells", "cells") == ""
    assert unit_ratio("cells", "cells/mL") == "mL"
    assert unit_ratio("Ct", "cells") == "(Ct)/(cells)"


def test_frame_dtypes_are_numeric(tmp_path):
    f = read_study(write(tmp_path, "ID,TIME,DV,SITE,LLOQ\n1,1,5,lung,1\n")).frame
    for col in ("TIME", "DV", "LLOQ"):
        assert np.issubdtype(f[col].dtype, np.floating)
    assert np.issubdtype(f["CENS"].dtype, np.integer)
