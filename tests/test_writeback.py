"""Scores back into the CRM: labels, field mappings, CSV import files, delta selection, signing.

Delivery under faults, kill -9, locks and a full disk: ``test_writeback_faults.py``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from serving.config import STAGES, TIERS, Actions
from serving.labels import LabelError, default_action_codes, labels_path, load_labels
from serving.writeback.csv_export import export_csv
from serving.writeback.fields import MappingError, load_mapping, mapping_names, records
from serving.writeback.journal import Journal, JournalError
from serving.writeback.webhook import RetryPolicy, parse_retry_after, sign, verify

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def scores(writeback_scores: pd.DataFrame) -> pd.DataFrame:
    return writeback_scores.copy()  # made once per session (conftest.py)


def read_export(path: Path, mapping_name: str) -> tuple[bytes, list[dict[str, str]]]:
    mapping = load_mapping(mapping_name)
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig" if mapping.file.bom else mapping.file.encoding)
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.file.delimiter))
    return raw, rows


# -- labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_action_code_has_a_plain_word_label(language: str) -> None:
    labels = load_labels(language)
    actions = Actions()
    codes = {actions.action(stage, tier) for stage in STAGES for tier in TIERS}
    assert codes == set(default_action_codes())
    for code in codes:
        label = labels.action(code)
        assert label != code and "_" not in label, code
        assert bool(CJK.search(label)) == (language == "zh"), label
    # an override code outside the grid is composed from its parts, or left as the code
    assert labels.action("win_back.personal_email") != labels.action(
        "win_back.account_manager_call"
    )
    composed = labels.action("cross_sell.nonexistent")
    assert composed == "cross_sell.nonexistent"
    unlisted = labels.model_copy(update={"actions": {}})
    assert labels.strategies["win_back"] in unlisted.action("win_back.personal_email")
    assert labels.contacts["personal_email"] in unlisted.action("win_back.personal_email")


def test_labels_file_with_unknown_or_missing_keys_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(labels_path("en").read_text(encoding="utf-8"))
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({**data, "colour": "red"}), encoding="utf-8")
    with pytest.raises(LabelError, match=r"extra\.yaml.*colour"):
        load_labels("en", extra)
    data["stages"].pop("declining")
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(LabelError, match=r"missing\.yaml.*declining"):
        load_labels("en", missing)


# -- mappings and CSV files ------------------------------------------------------------------------
def test_the_mappings_ship_and_cite_their_sources() -> None:
    assert mapping_names() == [
        "fxiaoke",
        "generic",
        "hubspot",
        "hubspot-companies",
        "salesforce",
        "zoho",
        "zoho-cn",
    ]
    # B2B: the same company properties, imported as companies
    assert load_mapping("hubspot-companies").module == "companies"
    assert [f.column for f in load_mapping("hubspot-companies").fields] == [
        f.column for f in load_mapping("hubspot").fields
    ]
    for name in mapping_names():
        mapping = load_mapping(name)
        text = Path(__file__).resolve().parents[1] / "serving/writeback/mappings" / f"{name}.yaml"
        comments = "\n".join(
            line for line in text.read_text(encoding="utf-8").splitlines() if line.startswith("#")
        )
        for url in mapping.sources:
            assert url.startswith("https://")
            assert url in comments, f"{name}: {url} not cited in the comments"


MAPPINGS_DIR_PATH = Path(__file__).resolve().parents[1] / "serving" / "writeback" / "mappings"


def test_mapping_errors_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such mapping.*zoho"):
        load_mapping("pipedrive")
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(
        Path(load_mapping.__globals__["MAPPINGS_DIR"] / "generic.yaml").read_text()
    )
    data["fields"].append({"column": "risk", "source": "churn_probability", "kind": "date"})
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(MappingError, match=r"bad\.yaml.*'risk'.*kind 'date'"):
        load_mapping(bad)
    data["fields"][-1] = {"column": "risk\nscore", "source": "churn_probability"}
    bad.write_text(yaml.safe_dump(data))  # a header cell over two lines
    with pytest.raises(MappingError, match=r"bad\.yaml.*'risk\\nscore'.*line break"):
        load_mapping(bad)
    chinese = tmp_path / "gbk.yaml"  # saved in the Windows Chinese code page
    chinese.write_bytes(
        (MAPPINGS_DIR_PATH / "fxiaoke.yaml").read_text(encoding="utf-8").encode("gb18030")
    )
    with pytest.raises(MappingError, match=r"gbk\.yaml: not UTF-8 text .*save it as UTF-8"):
        load_mapping(chinese)
    data["fields"][-1] = {"column": "customer_id", "source": "customer_id"}
    bad.write_text(yaml.safe_dump(data))  # two fields, one CRM column
    with pytest.raises(MappingError, match=r"bad\.yaml.*more than one field writes.*customer_id"):
        load_mapping(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nfields: [\n")
    with pytest.raises(MappingError, match=r"broken\.yaml: not valid YAML"):
        load_mapping(broken)


def test_mapping_sources_are_the_score_columns(tmp_path: Path, scores: pd.DataFrame) -> None:
    """``source`` may name any score column (``SCORE_COLUMNS``, the action label included);
    anything else is refused naming the field and listing the columns."""
    from serving.scoring import SCORE_COLUMNS

    data = yaml.safe_load(
        Path(load_mapping.__globals__["MAPPINGS_DIR"] / "generic.yaml").read_text()
    )
    data["fields"].append({"column": "next_step", "source": "recommended_action_label"})
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(data))
    mapping = load_mapping(good)
    rows, rejects = records(scores, mapping)
    assert not rejects
    assert [r["next_step"] for r in rows] == scores["recommended_action_label"].tolist()

    data["fields"][-1] = {"column": "risk_band", "source": "churn_band"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(MappingError) as error:
        load_mapping(bad)
    message = str(error.value)
    assert "bad.yaml" in message and "'risk_band'" in message
    assert "source 'churn_band' is not a score column" in message
    assert f"allowed: {', '.join(SCORE_COLUMNS)}" in message
    # every score column people read rounded (new ones too) exports as a number
    from serving.scoring import PEOPLE_DECIMALS
    from serving.writeback.fields import FieldSpec

    for column in sorted(set(PEOPLE_DECIMALS) & set(SCORE_COLUMNS)):
        assert FieldSpec(column=column, source=column, kind="number", decimals=2).source == column
    with pytest.raises(ValueError, match="kind 'number' does not apply to 'stage'"):
        FieldSpec(column="s", source="stage", kind="number", decimals=0)


#: Score columns left to the generic mapping (files, warehouses, the webhook's default): the action
#: label in the scoring config's language (CRM mappings label the action in their own language
#: instead), the model versions (audit, not for sales people) and every action's saved value (JSON
#: text whose keys are the project's campaign actions: no fixed CRM field can hold it).
GENERIC_ONLY = frozenset(
    {
        "recommended_action_label",
        "churn_model_version",
        "clv_model_version",
        "saved_value_by_action",
        "uplift_model_version",
    }
)


def crm_fields() -> list[str]:
    """What a CRM user needs on the customer record, so every shipped mapping sends it: every
    other score column, i.e. the key, the scoring date, stage, churn risk, predicted value and its
    range, value segment, value at risk, retention priority, the next best action (in plain words:
    ``kind: label``, in the mapping's language), the reasons and, with campaign data, the value
    the action is expected to keep. A new score column is needed by every CRM until it is put in
    ``GENERIC_ONLY``."""
    from serving.scoring import SCORE_COLUMNS

    assert GENERIC_ONLY <= set(SCORE_COLUMNS)
    return [c for c in SCORE_COLUMNS if c not in GENERIC_ONLY]


@pytest.mark.parametrize("name", mapping_names())
def test_every_mapping_sends_score_columns_and_what_a_crm_needs(
    name: str, scores: pd.DataFrame
) -> None:
    from serving.scoring import SCORE_COLUMNS

    mapping = load_mapping(name)
    sources = {f.source for f in mapping.fields}
    assert not sources - set(SCORE_COLUMNS)
    assert not set(crm_fields()) - sources, f"{name} lacks {set(crm_fields()) - sources}"
    assert "expected_saved_value" in crm_fields() and "predicted_value_low" in crm_fields()
    assert any(f.source == "recommended_action" and f.kind == "label" for f in mapping.fields)
    if name == "generic":  # every score column under its own name
        assert not set(SCORE_COLUMNS) - set(mapping.columns)
    # the range and the saved value arrive as numbers rounded per field (the shared scores have
    # neither: give them some)
    filled = scores.assign(
        predicted_value_low=scores["predicted_value"] * 0.5,
        predicted_value_high=scores["predicted_value"] * 2.0 + 1.0,
        expected_saved_value=np.where(scores["stage"] == "prospect", np.nan, 12.345),
    )
    rendered, rejects = records(filled, mapping)
    assert not rejects and len(rendered) == len(filled)
    for f in mapping.fields:
        if f.source in ("predicted_value_low", "predicted_value_high", "expected_saved_value"):
            assert f.kind == "number"
            want = [None if math.isnan(v) else round(v, f.decimals) for v in filled[f.source]]
            assert [r[f.column] for r in rendered] == pytest.approx(want), f.column


@pytest.mark.parametrize("name", ["generic", "zoho", "fxiaoke", "salesforce", "hubspot"])
def test_csv_import_file_follows_the_crm_conventions(
    name: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    mapping = load_mapping(name)
    result = export_csv(scores, "scores.parquet", mapping, tmp_path / "state")
    assert result.written == len(scores) and not result.rejects
    raw, rows = read_export(result.path, name)
    assert raw.startswith(b"\xef\xbb\xbf") == mapping.file.bom
    assert (b"\r\n" in raw) == (mapping.file.line_terminator == "\r\n")
    assert list(rows[0]) == mapping.columns
    assert [r[mapping.key] for r in rows] == scores["customer_id"].tolist()
    cells = [cell.strip().lower() for row in rows for cell in row.values()]
    assert not {"nan", "inf", "-inf", "none", "null", "nat"} & set(cells)  # missing = empty cell
    by_source = {f.source: f for f in mapping.fields}
    date_col = by_source["as_of"].column
    assert {r[date_col] for r in rows} == {pd.Timestamp("2025-10-01").strftime(mapping.date_format)}
    risk = by_source["churn_probability"]
    for row, p in zip(rows, scores["churn_probability"], strict=True):
        cell = row[risk.column]
        if math.isnan(p):  # prospects have no churn score: the cell that clears the field
            assert cell == mapping.null_cell
        else:
            factor = 100 if risk.kind == "percent" else 1
            # rounded; strictly inside (0, 1) it stays off 0 and 1, one step at most
            assert float(cell) == pytest.approx(p * factor, abs=10**-risk.decimals)
            assert re.fullmatch(r"\d+\.\d+", cell)  # plain decimal, no exponent or separators
    labels = load_labels(mapping.language)
    stage_field = next(f for f in mapping.fields if f.source == "stage")
    expected = scores["stage"] if stage_field.kind == "text" else scores["stage"].map(labels.stage)
    assert [r[stage_field.column] for r in rows] == expected.tolist()
    for f in mapping.fields:
        if f.source == "recommended_action" and f.kind == "label":
            assert [r[f.column] for r in rows] == [
                labels.action(c) for c in scores["recommended_action"]
            ]
    for ch in mapping.forbidden_characters:
        assert not any(ch in cell for cell in cells), ch


@pytest.mark.parametrize("name", mapping_names())
def test_a_probability_strictly_inside_never_reads_0_or_100_percent(
    name: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """docs/scoring.md: a probability strictly between 0 and 1 never reads 0 or 1; a percent
    field likewise never 0 % or 100 % (0.99984 was 100.0 for 2,873 of 15,814 buyers)."""
    mapping = load_mapping(name)
    risk = next(f for f in mapping.fields if f.source == "churn_probability")
    scale, step = (100 if risk.kind == "percent" else 1), 10.0**-risk.decimals
    p = [0.99984, 0.999999, 0.0004, 1e-6, 1.0, 0.0, 0.5]
    frame = scores.head(len(p)).copy()
    frame["churn_probability"] = p
    result = export_csv(frame, "s", mapping, tmp_path)
    _, rows = read_export(result.path, name)
    cells = [float(r[risk.column]) for r in rows]
    assert all(0 < c < scale for c in cells[:4])
    assert cells[:4] == pytest.approx([v * scale for v in p[:4]], abs=step)
    assert cells[1] == pytest.approx(scale - step) and cells[3] == pytest.approx(step)
    if risk.kind == "percent" and risk.decimals == 1:
        assert [r[risk.column] for r in rows][:4] == ["99.9", "99.9", "0.1", "0.1"]
    assert cells[4:] == pytest.approx([scale, 0, scale / 2])  # exactly 0 or 1 reads as it is


def test_fxiaoke_gets_simplified_chinese_labels(scores: pd.DataFrame, tmp_path: Path) -> None:
    result = export_csv(scores, "s", load_mapping("fxiaoke"), tmp_path)
    _, rows = read_export(result.path, "fxiaoke")
    zh = load_labels("zh")
    assert {r["生命周期阶段"] for r in rows} <= set(zh.stages.values())
    assert all(CJK.search(r["建议行动"]) for r in rows)
    assert {r["挽留优先级"] for r in rows} <= set(zh.tiers.values())


def test_zoho_values_carry_no_forbidden_characters(scores: pd.DataFrame, tmp_path: Path) -> None:
    bad = scores.head(3).copy()
    bad["reasons"] = [["a | b", 'say "hi"'], ["<b>bold</b>"], []]
    result = export_csv(bad, "s", load_mapping("zoho"), tmp_path)
    _, rows = read_export(result.path, "zoho")
    cells = [v for row in rows for v in row.values()]
    assert not any(ch in cell for cell in cells for ch in '"|<>')
    assert rows[0]["Churn_Reasons"] == "a b; say hi"
    assert rows[2]["Churn_Reasons"] == ""


KEYS = [
    "A|B",
    "A B",
    'a"quote',
    "a quote",
    "  padded  ",
    "padded",
    "two\nlines",
    "A<B>",
    "M\u0085nel",  # NEL, a C1 control: a line break to some readers
    "G\u2028ls",  # the Unicode line separator
]
#: Keys every mapping rejects: line breaks and control characters, and surrounding spaces (CRM
#: imports trim them, so the row would update another record).
UNCARRIED = {"  padded  ", "two\nlines", "M\u0085nel", "G\u2028ls"}


@pytest.mark.parametrize("name", ["zoho", "generic"])
def test_the_key_is_never_rewritten_it_is_sent_as_is_or_rejected(
    name: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A rewritten key updates another CRM record: ``A|B`` may not become ``A B`` (a second row
    with that key). A key the mapping cannot carry is rejected, naming the field."""
    mapping = load_mapping(name)
    frame = scores.head(len(KEYS)).copy()
    frame["customer_id"] = KEYS
    result = export_csv(frame, "s", mapping, tmp_path)
    _, rows = read_export(result.path, name)
    written = [r[mapping.key] for r in rows]
    assert len(set(written)) == len(written)  # no two ids collapse into one key
    assert set(written) <= set(KEYS)  # byte for byte
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert {r["customer_id"] for r in rejected} | set(written) == set(KEYS)
    assert all("customer_id" in r["reason"] and "never rewritten" in r["reason"] for r in rejected)
    by_id = {r["customer_id"]: r["reason"] for r in rejected}
    assert all("line break" in by_id[k] for k in UNCARRIED - {"  padded  "})
    assert "space" in by_id["  padded  "]
    if name == "zoho":  # forbids " | < > in values
        assert written == ["A B", "a quote", "padded"]
        assert "'|'" in by_id["A|B"] and "zoho" in by_id["A|B"] and "'<>'" in by_id["A<B>"]
    else:
        assert written == [k for k in KEYS if k not in UNCARRIED]


@pytest.mark.parametrize("name", ["fxiaoke", "salesforce", "generic"])
def test_csv_text_cells_never_read_as_a_formula(
    name: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """CSV injection: a text cell starting with = + - @ gets a leading ' (Excel/WPS open these
    files); numbers stay numbers; a key like that is rejected, never altered (the webhook sends
    it as it is)."""
    mapping = load_mapping(name)
    frame = scores.head(6).copy().reset_index(drop=True)
    frame["reasons"] = [['=HYPERLINK("http://x.example","y")'], ["+cmd"], ["-2+3"], ["@SUM(1)"]] + [
        ["ok"]
    ] * 2
    frame["recommended_action"] = ["=1+2"] + frame["recommended_action"].tolist()[1:]
    frame.loc[0, "predicted_value"] = -5.2
    frame.loc[5, "customer_id"] = "=cmd|' /C calc'!A0"
    result = export_csv(frame, "s", mapping, tmp_path)
    _, rows = read_export(result.path, name)
    assert len(rows) == 5
    for row in rows:
        for f in mapping.fields:
            cell = row[f.column]
            if f.kind in ("number", "percent"):
                assert cell == mapping.null_cell or re.fullmatch(r"-?\d+\.\d+", cell), cell
            else:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (f.column, cell)
    reasons = next(f.column for f in mapping.fields if f.source == "reasons")
    assert [r[reasons] for r in rows[:4]] == [
        '\'=HYPERLINK("http://x.example","y")',
        "'+cmd",
        "'-2+3",
        "'@SUM(1)",
    ]
    value = next(f.column for f in mapping.fields if f.source == "predicted_value")
    assert rows[0][value] == "-5.20"
    assert [r[mapping.key] for r in rows] == frame["customer_id"].tolist()[:5]
    (rejected,) = [
        json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()
    ]
    assert rejected["customer_id"] == frame.loc[5, "customer_id"]
    assert "formula" in rejected["reason"] and "never rewritten" in rejected["reason"]
    rendered, rejects = records(frame, mapping)  # the webhook: JSON, no spreadsheet
    assert not rejects and rendered[5][mapping.key] == frame.loc[5, "customer_id"]


def test_bad_rows_are_rejected_with_a_reason_never_dropped(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    frame = scores.head(40).copy().reset_index(drop=True)
    prospect = frame.index[frame["stage"] == "prospect"][0]
    buyer = frame.index[frame["stage"] != "prospect"][0]
    frame.loc[buyer, "predicted_value"] = np.inf
    frame.loc[3, "stage"] = "zombie"
    frame.loc[5, "customer_id"] = None
    frame = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)  # a duplicate id
    mapping = load_mapping("generic")
    rendered, rejects = records(frame, mapping)
    reasons = {r.row: r.reason for r in rejects}
    assert "predicted_value is inf" in reasons[buyer]
    assert "stage 'zombie'" in reasons[3]
    assert reasons[5] == "customer_id is empty"
    assert "more than once" in reasons[40]
    assert len(rendered) + len(rejects) == len(frame)
    prospect_row = next(
        r for r in rendered if r["customer_id"] == frame.loc[prospect, "customer_id"]
    )
    assert prospect_row["churn_probability"] is None  # NaN -> JSON null / empty cell
    result = export_csv(frame, "s", mapping, tmp_path)
    assert result.written == len(rendered)
    lines = (tmp_path / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in lines] == sorted(reasons)


@pytest.mark.filterwarnings("ignore:mapping .* is Chinese:UserWarning")
@pytest.mark.parametrize(
    ("name", "cell"),
    # Salesforce Bulk API: "Empty field values are ignored when you update records. To set a
    # field value to null, use a field value of #N/A." Zoho Bulk Write (ignore_empty false, the
    # default): "The system updates records in CRM with empty values in the given file column."
    [("salesforce", "#N/A"), ("zoho", ""), ("zoho-cn", ""), ("hubspot", ""), ("fxiaoke", "")],
)
def test_an_action_tier_or_reasons_gone_empty_is_resent_as_the_cell_that_clears_it(
    name: str, cell: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A customer exported with a next action, a tier and reasons, whose action and tier become
    none and reasons empty, is sent again with the mapping's ``null_cell`` in those columns: a
    stale "call this customer" must be cleared in the CRM, not left from last week's import."""
    mapping = load_mapping(name)
    few = scores.head(5).copy()
    first = export_csv(few, "s", mapping, tmp_path / "state", out=tmp_path / "a.csv")
    cid = few["customer_id"].iloc[0]
    _, rows = read_export(first.path, name)
    columns = {f.source: f.column for f in mapping.fields}
    gone = ["recommended_action", "priority_tier", "reasons"]
    before = next(r for r in rows if r[mapping.key] == cid)
    assert all(before[columns[s]] not in ("", "#N/A") for s in gone)
    later = few.copy()
    later["recommended_action"] = later["recommended_action"].astype(object)
    later["priority_tier"] = later["priority_tier"].astype(object)
    later.loc[later["customer_id"] == cid, ["recommended_action", "priority_tier"]] = None
    later["reasons"] = [
        [] if c == cid else r for c, r in zip(later["customer_id"], later["reasons"], strict=True)
    ]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        second = export_csv(later, "s", mapping, tmp_path / "state", out=tmp_path / "b.csv")
    _, rows = read_export(second.path, name)
    assert [r[mapping.key] for r in rows] == [cid]  # only the changed customer
    assert mapping.null_cell == cell
    assert [rows[0][columns[s]] for s in gone] == [cell] * 3
    # where the CRM's docs do not say that import clears a field, the export says what to check
    told = [str(w.message) for w in said if "went empty" in str(w.message)]
    if mapping.empty_cell_clears:
        assert told == []
    else:
        assert len(told) == 1 and f"check that customer {cid!r} has no" in told[0]
        assert "recommended_action" in told[0] or columns["recommended_action"] in told[0]


def test_an_export_past_the_crms_rows_per_file_is_written_in_parts(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Zoho's import wizard takes 10,000 records a batch (Standard Edition; Bulk Write 25,000),
    the Salesforce Data Import Wizard 50,000:
    past a mapping's ``max_rows_per_file`` the export is name.part-001.csv, ... each with the
    header; under it, one file of the plain name."""
    assert load_mapping("zoho").max_rows_per_file == 10_000
    assert load_mapping("zoho-cn").max_rows_per_file == 10_000
    assert load_mapping("salesforce").max_rows_per_file == 50_000
    # knowledge.hubspot.com "Set up import files": "a limit of 1,048,576 rows per file"
    assert load_mapping("hubspot").max_rows_per_file == 1_048_576
    mapping = load_mapping("hubspot").model_copy(update={"max_rows_per_file": 10})
    few = scores.head(25)
    parts = export_csv(few, "s", mapping, tmp_path / "a", out=tmp_path / "out.csv")
    assert [p.name for p in parts.paths] == [f"out.part-00{i}.csv" for i in (1, 2, 3)]
    assert not (tmp_path / "out.csv").exists()
    got = [read_export(p, "hubspot")[1] for p in parts.paths]
    assert [len(rows) for rows in got] == [10, 10, 5]
    key = mapping.key
    assert [r[key] for rows in got for r in rows] == list(few["customer_id"])
    one = export_csv(few.head(10), "s", mapping, tmp_path / "b", out=tmp_path / "one.csv")
    assert one.paths == [tmp_path / "one.csv"]
    # the same --out again, fewer rows: an earlier export's parts are not left beside the new
    # file (an import reading out.* would load their older scores), and the other way round
    fewer = export_csv(few.head(8), "s", mapping, tmp_path / "c", out=tmp_path / "out.csv")
    assert (
        sorted(p.name for p in tmp_path.glob("out*.csv"))
        == ["out.csv"]
        == [p.name for p in fewer.paths]
    )
    more = export_csv(few.head(15), "s", mapping, tmp_path / "d", out=tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.glob("out*.csv")) == [p.name for p in more.paths]
    assert len(more.paths) == 2
    path = MAPPINGS_DIR_PATH / "hubspot.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text(encoding="utf-8") + "max_rows_per_file: 0\n", encoding="utf-8")
    with pytest.raises(MappingError, match="max_rows_per_file"):
        load_mapping(bad)


def test_ids_excel_would_change_are_warned_of_where_the_workflow_opens_excel(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Fxiaoke's file is saved as .xlsx in Excel/WPS (Zoho CN's is checked there): ids Excel
    changes are counted once per export, with an example and what to do."""
    from serving.writeback.fields import excel_changes

    changed = ["00012345", "123456789012345678", "2025-01-02", "1E5", "3/4", "12:30"]
    changed += ["123456789012", "12-2024", "3-Mar", "Jan-25"]  # 1.23457E+11, dates
    kept = ["C0000001", "12345", "12345678901", "A-1", "1.5", "x00012345", "123-45", "Market-2024"]
    assert all(map(excel_changes, changed)) and not any(map(excel_changes, kept))
    few = scores.head(18).assign(customer_id=changed + kept)
    with pytest.warns(UserWarning) as caught:
        export_csv(few, "s", load_mapping("fxiaoke"), tmp_path / "fx")
    (warning,) = [w for w in caught if "Excel/WPS" in str(w.message)]
    assert "10 customer ids in this fxiaoke file would be changed" in str(warning.message)
    assert "e.g. '00012345'" in str(warning.message)
    assert "import the CSV directly" in str(warning.message)
    assert "set the 外部客户编号 column to Text" in str(warning.message)
    assert load_mapping("zoho-cn").opened_in_spreadsheet
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_csv(few, "s", load_mapping("zoho"), tmp_path / "zoho")  # imported as CSV


def test_only_customers_whose_fields_changed_are_exported_again(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    mapping = load_mapping("salesforce")
    first = export_csv(scores, "s", mapping, tmp_path)
    assert first.written == len(scores)
    again = export_csv(scores, "s", mapping, tmp_path)
    assert again.path is None and again.written == 0 and again.unchanged == len(scores)

    later = scores.copy()
    later["as_of"] = pd.Timestamp("2025-11-01")  # a new scoring day alone changes nothing
    buyers = later.index[later["churn_probability"].notna()][:5]
    p = later.loc[buyers, "churn_probability"]
    later.loc[buyers, "churn_probability"] = p.where(p < 0.5, p - 0.4).where(p >= 0.5, p + 0.4)
    p = later["churn_probability"]
    tiny = later.index[(p > 0.1) & (p < 0.9)][-1]
    later.loc[tiny, "churn_probability"] += 1e-6  # below the exported precision: not a change
    delta = export_csv(later, "s", mapping, tmp_path)
    _, rows = read_export(delta.path, "salesforce")
    assert sorted(r["Lifecycle_Customer_ID__c"] for r in rows) == sorted(
        later.loc[buyers, "customer_id"]
    )
    assert not delta.rejects
    full = export_csv(later, "s", mapping, tmp_path, full=True)
    assert full.written == len(scores) and not full.rejects
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert len(journal.fingerprints()) == len(scores)
        assert journal.integrity_ok()


def test_files_still_at_out_are_written_again_not_lost(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """An export to a fixed ``--out`` whose earlier files are still there (perhaps never
    imported: the journal counted their customers as exported on writing) writes their
    customers again beside the changes; once the files are moved away, only the changes. Before,
    the earlier parts were deleted and their customers never sent again without ``--full``."""
    mapping = load_mapping("salesforce").model_copy(update={"max_rows_per_file": 7})
    state, out = tmp_path / "state", tmp_path / "crm" / "to-import.csv"
    out.parent.mkdir()
    first = export_csv(scores, "s", mapping, state, out=out)
    assert len(first.paths) > 1 and first.carried == 0 and not first.replaced
    later = scores.copy()
    buyers = later.index[later["churn_probability"].notna()][:3]
    later.loc[buyers, "priority_tier"] = [
        "P1" if t != "P1" else "P2" for t in later.loc[buyers, "priority_tier"]
    ]
    again = export_csv(later, "s", mapping, state, out=out)
    key = mapping.key
    written = [r[key] for p in again.paths for r in read_export(p, "salesforce")[1]]
    assert sorted(written) == sorted(scores["customer_id"])  # nobody lost
    assert again.carried == len(scores) and sorted(again.replaced) == sorted(first.paths)
    assert sorted(out.parent.iterdir()) == sorted(again.paths)
    for path in again.paths:  # imported, then moved away: only the changes from now on
        path.rename(tmp_path / path.name)
    final = later.copy()
    final.loc[buyers[:1], "priority_tier"] = "P3"
    last = export_csv(final, "s", mapping, state, out=out)
    assert last.carried == 0 and last.written == 1
    assert [r[key] for r in read_export(last.path, "salesforce")[1]] == list(
        final.loc[buyers[:1], "customer_id"]
    )
    other = tmp_path / "crm" / "notes.csv"  # a file of the same name without the key column
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    assert export_csv(final, "s", mapping, state, out=other).carried == 0


def test_a_column_written_otherwise_is_resent_for_everyone(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Churn risk as a percent (99.9) then as a fraction (0.9990), 1 decimal then 2, another
    date format: the same values in points, but the CRM column would be left mixed, so everyone
    is sent again. A state kept before column formats were recorded resends nobody."""
    mapping = load_mapping("salesforce")

    def changed(column: str, **update):
        fields = [f.model_copy(update=update) if f.column == column else f for f in mapping.fields]
        return mapping.model_copy(update={"fields": fields})

    assert export_csv(scores, "s", mapping, tmp_path).written == len(scores)
    assert export_csv(scores, "s", mapping, tmp_path).written == 0
    fraction = changed("Churn_Risk__c", kind="number", decimals=4)
    assert export_csv(scores, "s", fraction, tmp_path).written == len(scores)
    assert export_csv(scores, "s", fraction, tmp_path).written == 0
    finer = changed("Predicted_Value__c", decimals=3)
    assert export_csv(scores, "s", finer, tmp_path).written == len(scores)
    dated = finer.model_copy(update={"date_format": "%d/%m/%Y"})  # a field out of the delta
    assert export_csv(scores, "s", dated, tmp_path).written == len(scores)
    with Journal(tmp_path / "journal.sqlite") as journal:  # as an older version kept it
        old = {c: json.loads(fp) for c, fp in journal.fingerprints().items()}
        journal.db.executemany(
            "UPDATE exported SET fingerprint = ? WHERE customer_id = ?",
            [
                (json.dumps({k: v for k, v in fp.items() if k != " formats"}), c)
                for c, fp in old.items()
            ],
        )
    assert export_csv(scores, "s", dated, tmp_path).written == 0


def test_field_lengths_the_crm_holds_are_kept(scores: pd.DataFrame) -> None:
    """Salesforce text fields hold 255 characters: a longer key rejects the row (never shortened),
    longer reasons lose their last items, a single over-long reason is cut with an ellipsis."""
    mapping = load_mapping("salesforce")
    rows = scores.head(3).copy()
    rows["customer_id"] = rows["customer_id"].astype(object)
    rows.iloc[0, rows.columns.get_loc("customer_id")] = "K" * 300
    rows["reasons"] = pd.Series(
        [["a" * 10], ["b" * 120, "c" * 120, "d" * 120], ["e" * 400]], index=rows.index
    )
    out, rejects = records(rows, mapping)
    assert [r.customer_id for r in rejects] == ["K" * 300]
    assert "300 characters" in rejects[0].reason and "never shortened" in rejects[0].reason
    reasons = {r["Lifecycle_Customer_ID__c"]: r["Churn_Reasons__c"] for r in out}
    assert reasons[rows["customer_id"].iloc[1]] == ["b" * 120, "c" * 120]  # 242 with "; "
    (cut,) = reasons[rows["customer_id"].iloc[2]]
    assert len(cut) == 255 and cut.endswith("…")


def test_fxiaoke_text_fields_keep_to_their_lengths(scores: pd.DataFrame) -> None:
    """Fxiaoke's single-line text holds 100 characters (the unique key, the labels), multi-line
    2,000 (the reasons): a 256-character id was written and reasons over 100 characters would
    have been refused or cut at import."""
    mapping = load_mapping("fxiaoke")
    lengths = {f.source: f.max_length for f in mapping.fields if f.kind in ("text", "label")}
    assert lengths == dict.fromkeys(lengths, 100) and lengths["customer_id"] == 100
    assert next(f.max_length for f in mapping.fields if f.source == "reasons") == 2000
    rows = scores.head(2).copy()
    rows["customer_id"] = ["K" * 101, "ok"]
    _, rejects = records(rows, mapping)
    assert [r.customer_id for r in rejects] == ["K" * 101]


def test_keys_the_crm_would_misread_are_rejected_or_warned_of(scores: pd.DataFrame) -> None:
    """``#N/A`` is Salesforce's null cell: as a key the row would have none (rejected). Ids that
    differ only in capitals are one record where the key field ignores case (warned of)."""
    mapping = load_mapping("salesforce")
    rows = scores.head(4).copy()
    rows["customer_id"] = ["#N/A", "c1", "C1", "d2"]
    with pytest.warns(
        UserWarning, match=r"1 customer ids differ .* only in capitals.*'C1' and 'c1'"
    ):
        out, rejects = records(rows, mapping, spreadsheet=True)
    assert [r.customer_id for r in rejects] == ["#N/A"] and "null_cell" in rejects[0].reason
    assert [r[mapping.key] for r in out] == ["c1", "C1", "d2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records(rows.tail(2), mapping)


def test_a_week_of_ageing_alone_is_not_a_change(scores: pd.DataFrame, tmp_path: Path) -> None:
    """Day counts in the reasons, cents of value and tenths of a point of churn risk move every
    week; a CRM import quota should go to customers whose scores changed in substance."""
    mapping = load_mapping("hubspot")
    export_csv(scores, "s", mapping, tmp_path)
    aged = scores.assign(as_of=scores["as_of"] + pd.Timedelta(days=7))
    aged["reasons"] = [
        [re.sub(r"\d+", lambda m: str(int(m[0]) + 7), r) for r in reasons]
        for reasons in aged["reasons"]
    ]
    aged["predicted_value"] = aged["predicted_value"] * 1.001
    aged["churn_probability"] = (aged["churn_probability"] + 0.0004).clip(upper=0.9999)
    moved = aged.index[aged["churn_probability"].between(0.2, 0.7)][:3]
    aged.loc[moved, "churn_probability"] += 0.05  # five points: a change
    restaged = aged.index[aged["stage"] != "churned"][-2:]
    aged.loc[restaged, "stage"] = "churned"
    delta = export_csv(aged, "s", mapping, tmp_path)
    assert delta.path is not None
    _, rows = read_export(delta.path, "hubspot")
    key = mapping.fields[0].column
    expected = set(aged.loc[moved.union(restaged), "customer_id"])
    assert {r[key] for r in rows} == expected, len(rows)
    # a CRM that wants every tenth of a point says so in its mapping's resend rule
    path = tmp_path / "strict.yaml"
    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "serving/writeback/mappings"
                           / "hubspot.yaml").read_text(encoding="utf-8"))  # fmt: skip
    path.write_text(yaml.safe_dump({**base, "resend": {"probability_points": 0.1}}))
    strict = load_mapping(path)
    export_csv(scores, "s", strict, tmp_path / "strict")
    p = aged["churn_probability"]
    nudged = aged.assign(churn_probability=p.where(~p.between(0.2, 0.7), p + 0.002))
    assert export_csv(nudged, "s", strict, tmp_path / "strict").written > len(expected)
    with pytest.raises(MappingError, match="resend"):
        path.write_text(yaml.safe_dump({**base, "resend": {"points": 1}}))
        load_mapping(path)


def test_scores_older_than_those_exported_are_refused_unless_asked(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Last week's scores exported after this week's would overwrite the CRM's newer values."""
    mapping = load_mapping("salesforce")
    newer = scores.assign(as_of=pd.Timestamp("2026-01-08"))
    older = scores.assign(as_of=pd.Timestamp("2026-01-01"))
    export_csv(newer, "s", mapping, tmp_path)
    with pytest.raises(JournalError, match=r"as of 2026-01-01, older than the 2026-01-08 scores"):
        export_csv(older, "s", mapping, tmp_path)
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert journal.latest_as_of() == "2026-01-08"  # the refusal recorded nothing
    rollback = export_csv(older, "s", mapping, tmp_path, allow_older=True, full=True)
    assert rollback.written == len(scores)
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert journal.latest_as_of() == "2026-01-08"  # the newest exported stays the mark
    export_csv(newer, "s", mapping, tmp_path)  # the same date again: fine


# -- signing and retry arithmetic ------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    import hashlib
    import hmac

    body = json.dumps({"customers": [{"id": "C1", "risk": 0.5}]}).encode()
    secret = "s3cret-with-enough-length"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, secret) == expected
    assert verify(body, secret, expected)
    assert not verify(body + b" ", secret, expected)
    assert not verify(body, "another-secret-of-length", expected)
    assert not verify(body, secret, None)


def test_retry_after_and_backoff() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(0)
    for attempt in range(1, 10):
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # jitter spreads over the range


def _answering(*answers: tuple[int, dict[str, str]]):
    """A client whose receiver gives ``answers`` (status, headers) in turn, then 200."""
    import httpx

    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        code, headers = queue.pop(0) if queue else (200, {})
        return httpx.Response(code, headers=headers, text="answer")

    return httpx.Client(transport=httpx.MockTransport(handler))


def _deliver_once(client, url: str = "http://crm.example.com/hook?token=s3cr3t"):
    import time

    from serving.writeback.journal import Batch
    from serving.writeback.webhook import deliver

    batch = Batch("run", 1, "key-1", {"C1": "fp"}, b'{"customers": []}')
    fast = RetryPolicy(base_delay=0.0, max_delay=0.0, timeout=1.0)
    return deliver(client, url, batch, "s" * 32, fast, time.monotonic() + 30, random.Random(0))


def test_408_is_retried_and_a_redirect_names_where_it_points() -> None:
    """408 Request Timeout is retried like a 5xx; a 3xx is not followed (a POST is never
    redirected silently) and says its Location, an http -> https one as a --url to correct."""
    retried = _deliver_once(_answering((408, {})))
    assert retried.status == "delivered" and retried.attempts == 2
    to_https = _deliver_once(
        _answering((301, {"Location": "https://crm.example.com/hook?token=s3cr3t"}))
    )
    assert to_https.status == "route" and to_https.attempts == 1
    assert "redirects http to https (https://crm.example.com/hook?token=***)" in to_https.reason
    assert "correct --url to https" in to_https.reason and "s3cr3t" not in to_https.reason
    moved = _deliver_once(_answering((308, {"Location": "/v2/hook"})))
    assert moved.status == "route"
    assert "HTTP 308 redirect to http://crm.example.com/v2/hook (not followed" in moved.reason


# -- the command line --------------------------------------------------------------------------
def test_export_command_checks_its_options(scores: pd.DataFrame, tmp_path: Path) -> None:
    from lifecycle_cli import app

    path = tmp_path / "scores.parquet"
    scores.to_parquet(path, index=False)
    runner = CliRunner()
    bad_to = runner.invoke(app, ["export", "--to", "ftp", "--scores", str(path)])
    assert bad_to.exit_code == 2 and "expected csv or webhook" in bad_to.output
    no_url = runner.invoke(app, ["export", "--to", "webhook", "--scores", str(path)])
    assert no_url.exit_code == 2 and "--url is required" in no_url.output
    no_secret = runner.invoke(
        app,
        [
            "export",
            "--to",
            "webhook",
            "--url",
            "http://127.0.0.1:9/x",
            "--scores",
            str(path),
            "--exports-dir",
            str(tmp_path / "exports"),
        ],
        env={"LIFECYCLE_WEBHOOK_SECRET": ""},
    )
    assert no_secret.exit_code == 2 and "LIFECYCLE_WEBHOOK_SECRET" in no_secret.output
    for url in ("http://[::1/x", "http://127.0.0.1:99999/x", "http://host:0/x", "ftp://h/x"):
        bad_url = runner.invoke(
            app,
            ["export", "--to", "webhook", "--url", url, "--scores", str(path)],
            env={"LIFECYCLE_WEBHOOK_SECRET": "s" * 32},
        )
        assert bad_url.exit_code == 2 and "expected http(s)://host[:port]/path" in bad_url.output
        assert "Traceback" not in bad_url.output
    missing = runner.invoke(
        app, ["export", "--to", "csv", "--scores", str(tmp_path / "no.parquet")]
    )
    assert missing.exit_code == 2 and "run `lifecycle score` first" in missing.output
    ok = runner.invoke(
        app,
        [
            "export",
            "--to",
            "csv",
            "--crm",
            "hubspot",
            "--scores",
            str(path),
            "--project",
            "acme",
            "--exports-dir",
            str(tmp_path / "exports"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert f"acme/hubspot: wrote {len(scores):,} customers" in ok.output
    assert list((tmp_path / "exports" / "acme" / "hubspot").glob("hubspot-*.csv"))


def test_customers_exported_before_but_gone_from_the_scores_are_counted_and_listed(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Customers exported before who are not in these scores (deleted or merged in the source)
    are counted in the summary and listed in the journal; no deletion is sent."""
    from lifecycle_cli import app

    path, exports = tmp_path / "scores.parquet", tmp_path / "exports"
    args = ["export", "--to", "csv", "--crm", "hubspot", "--scores", str(path)]
    args += ["--project", "acme", "--exports-dir", str(exports)]
    scores.head(30).to_parquet(path, index=False)
    assert CliRunner().invoke(app, args).exit_code == 0
    scores.head(30).iloc[5:].to_parquet(path, index=False)
    later = CliRunner().invoke(app, args)
    assert later.exit_code == 0, later.output
    assert (
        "5 customers exported before are not in these scores: deleted or merged in the source?"
    ) in later.output
    with Journal(exports / "acme" / "hubspot" / "journal.sqlite") as journal:
        assert journal.not_in_scores() == sorted(scores["customer_id"].head(5))
        assert len(journal.fingerprints()) == 30  # kept: no deletion


def _bulk_upsert(crm: dict[str, dict[str, str | None]], rows: list[dict[str, str]], key: str):
    """Apply an import file as Salesforce Bulk API upserts do: an empty cell keeps the field,
    ``#N/A`` sets it to null, any other cell replaces it."""
    for row in rows:
        record = crm.setdefault(row[key], {})
        for column, cell in row.items():
            if cell == "#N/A":
                record[column] = None
            elif cell != "":
                record[column] = cell


def test_salesforce_clears_the_saved_value_once_the_uplift_champion_is_gone(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """With an uplift champion every customer has a saved value; once it is removed the scores
    carry none, and the next import must clear ``Expected_Saved_Value__c``, not leave the old
    amount in the CRM."""
    mapping = load_mapping("salesforce")
    with_uplift = scores.copy()
    with_uplift["expected_saved_value"] = np.linspace(5.0, 50.0, len(scores))
    crm: dict[str, dict[str, str | None]] = {}
    first = export_csv(with_uplift, "s", mapping, tmp_path)
    _bulk_upsert(crm, read_export(first.path, "salesforce")[1], mapping.key)
    assert all(r["Expected_Saved_Value__c"] is not None for r in crm.values())

    assert scores["expected_saved_value"].isna().all()  # scored without an uplift champion
    later = export_csv(scores, "s", mapping, tmp_path)
    assert later.written == len(scores)  # a value turning missing is a change: resent
    _, rows = read_export(later.path, "salesforce")
    assert {r["Expected_Saved_Value__c"] for r in rows} == {"#N/A"}
    _bulk_upsert(crm, rows, mapping.key)
    assert all(r["Expected_Saved_Value__c"] is None for r in crm.values())
    prospects = scores.loc[scores["churn_probability"].isna(), "customer_id"]
    assert len(prospects) and all(crm[c]["Churn_Risk__c"] is None for c in prospects)


def test_null_cell_may_not_break_the_csv(tmp_path: Path) -> None:
    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "serving/writeback/mappings"
                           / "salesforce.yaml").read_text(encoding="utf-8"))  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**base, "null_cell": "#N,A"}), encoding="utf-8")
    with pytest.raises(MappingError, match="null_cell"):
        load_mapping(path)


def test_a_chinese_mapping_fed_english_reasons_says_so(scores: pd.DataFrame) -> None:
    fxiaoke = load_mapping("fxiaoke")
    assert fxiaoke.list_separator == "；"
    with pytest.warns(UserWarning, match="score with LIFECYCLE_LANG=zh"):
        records(scores.head(20), fxiaoke)  # the fixture's reasons are English
    as_read = scores.head(20).assign(reasons=[np.array(["no visits in 30 days"])] * 20)
    with pytest.warns(UserWarning, match="score with LIFECYCLE_LANG=zh"):
        records(as_read, fxiaoke)  # a Parquet list column reads back as numpy arrays
    chinese = scores.head(20).assign(reasons=[["已 130 天未购买"]] * 20)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records(chinese, fxiaoke)
        records(scores.head(20), load_mapping("zoho"))  # an English mapping: nothing to say


def test_an_english_mapping_fed_chinese_reasons_says_so(scores: pd.DataFrame) -> None:
    """Scored with LIFECYCLE_LANG=zh for a Fxiaoke export, the same scores exported to HubSpot put
    English labels beside Chinese reasons: said, as the other way round is."""
    chinese = scores.head(20).assign(
        reasons=[np.array(["已 130 天未购买", "成为客户已 900 天"])] * 20
    )
    for name in ("hubspot", "salesforce", "zoho", "generic"):
        with pytest.warns(
            UserWarning, match=f"mapping '{name}' is English but the scores' reasons"
        ):
            records(chinese, load_mapping(name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records(scores.head(20), load_mapping("hubspot"))  # English reasons: nothing to say
        accented = scores.head(20).assign(reasons=[["average order 45,00 €, Café Müller"]] * 20)
        records(accented, load_mapping("hubspot"))  # non-ASCII is not Chinese


def test_a_killed_exports_partial_file_is_cleared_by_the_next(scores: pd.DataFrame, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    older = state / "zoho-20261203T192551Z.csv.partial"  # what a kill -9 mid-write left before
    older.write_text("Lifecycle_Customer_ID,Churn_Risk\nC1,")
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    left = state / f".zoho-20261203T192551Z.csv.{dead}-0a1b2c3d.partial"  # and now
    left.write_text("Lifecycle_Customer_ID,Churn_Risk\nC1,")
    result = export_csv(scores.head(5), "s", load_mapping("zoho"), state)
    assert result.path is not None and result.path.exists()
    assert not older.exists() and not left.exists()


def test_two_exports_to_one_out_file_each_write_a_whole_file(scores: pd.DataFrame, tmp_path):
    """Two exports with other mappings (other locks) to one --out shared a fixed temporary
    name: the file could hold one's header over rows of both, and the run said it succeeded."""
    from concurrent.futures import ThreadPoolExecutor

    from serving.writeback.csv_export import write_csv

    out = tmp_path / "crm.csv"
    mappings = [load_mapping("hubspot"), load_mapping("generic")]
    rows = {m.name: records(scores, m, spreadsheet=True)[0] for m in mappings}
    expected = {}
    for m in mappings:
        write_csv(rows[m.name], m, out)
        expected[m.name] = out.read_bytes()
    for _ in range(5):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda m: write_csv(rows[m.name], m, out), mappings * 3))
        assert out.read_bytes() in expected.values()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.csv"]


def test_a_scores_file_from_before_value_at_risk_still_exports(tmp_path):
    from serving.writeback.plan import with_value_at_risk

    old = pd.DataFrame({"customer_id": ["a", "b"], "priority_score": [12.5, 0.0]})
    old.attrs["lifecycle_project"] = "shop"
    derived = with_value_at_risk(old)
    assert derived["value_at_risk"].tolist() == [12.5, 0.0]
    assert derived.attrs["lifecycle_project"] == "shop"
    reranked = old.assign(uplift_model_version=["3", None])  # priority was net saved value
    assert "value_at_risk" not in with_value_at_risk(reranked)


def test_one_server_spelled_differently_is_one_export_target():
    """The target's journal is named by the URL's host: spellings of one server share it (two
    journals would send everything twice, under different idempotency keys)."""
    from serving.writeback.webhook import public_url, url_host

    same = [
        "http://localhost:8765/hooks",
        "http://LOCALHOST:8765/hooks",
        "http://user:pw@localhost.:8765/hooks",
    ]
    assert {url_host(u) for u in same} == {"localhost:8765"}
    assert url_host("https://API.Example.com:443/x") == url_host("https://api.example.com/x")
    assert url_host("https://api.example.com:8443/x") == "api.example.com:8443"
    assert url_host("http://[::1]:80/x") == "[::1]"
    assert public_url("http://u:p@Host.com:80/h?token=s") == "http://host.com/h?token=***"


def test_hooks_sharing_a_host_are_separate_targets_named_without_their_secrets():
    """Zapier/Make/n8n hooks share a host: the path counts (hashed: it may hold a secret); a URL
    without a path keeps the name of the versions before, and with it its state; a rotated token
    in the query or a trailing slash keeps the target (and its pending batches)."""
    from serving.writeback.webhook import default_target

    a = default_target("https://hooks.zapier.com/hooks/catch/123/abc/")
    b = default_target("https://hooks.zapier.com/hooks/catch/123/def/")
    assert a != b
    assert all(re.fullmatch(r"webhook-hooks\.zapier\.com-[0-9a-f]{10}", t) for t in (a, b))
    assert default_target("https://User:pw@Hooks.Zapier.com:443/hooks/catch/123/abc/") == a
    assert default_target("https://hooks.zapier.com/hooks/catch/123/abc?token=s3cr3t") == a
    assert default_target("https://crm.example.com") == "webhook-crm.example.com"
    assert default_target("https://crm.example.com/") == "webhook-crm.example.com"
    assert default_target("http://127.0.0.1:8765/?t=x") == "webhook-127.0.0.1:8765"


def test_your_own_labels_are_merged_over_the_shipped_ones(tmp_path, monkeypatch):
    from serving.labels import LABELS_DIR_ENV, LabelError, unlabelled_actions

    assert unlabelled_actions(["sms_coupon", "discount"], "en") == ["sms_coupon"]
    (tmp_path / "actions.en.yaml").write_text(
        "actions:\n  sms_coupon: SMS coupon\nstages:\n  declining: At risk\n"
    )
    monkeypatch.setenv(LABELS_DIR_ENV, str(tmp_path))
    en = load_labels("en")
    assert en.action("sms_coupon") == "SMS coupon" and en.stage("declining") == "At risk"
    assert en.stage("churned") == "Churned"  # the rest stays the shipped wording
    assert unlabelled_actions(["sms_coupon"], "en") == []
    assert unlabelled_actions(["sms_coupon"], "zh") == ["sms_coupon"]  # no zh file given
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "actions.en.yaml").write_text("stages:\n  dormant: Sleeping\n")
    monkeypatch.setenv(LABELS_DIR_ENV, str(bad))
    with pytest.raises(
        LabelError, match=r"bad.actions.en.yaml: .*stages: unknown keys \['dormant'\]"
    ):
        load_labels("en")


def test_customers_sent_under_an_upper_case_uuid_keep_that_key_after_ingest_lowers_it(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """An upgrade that lower-cases UUID ids (ingest does since 2026-12-05) made every customer a
    new CRM record ('2,968 customers exported before are not in these scores'): the export sends
    a customer under the form of its id the target was sent before, and says so."""
    mapping = load_mapping("hubspot")
    before = scores.copy()
    uuids = [f"{i:08X}-AAAA-4BBB-8CCC-{i:012X}" for i in range(len(before))]
    before["customer_id"] = uuids
    first = export_csv(before, "s", mapping, tmp_path)
    assert first.written == len(before)
    now = before.assign(customer_id=[u.lower() for u in uuids])
    with pytest.warns(UserWarning, match=r"customers are sent under the id this target was sent"):
        again = export_csv(now, "s", mapping, tmp_path)
    assert (again.written, again.unchanged, again.gone) == (0, len(before), 0)
    changed = now.copy()
    changed.loc[0, "priority_tier"] = "P1" if changed.loc[0, "priority_tier"] != "P1" else "P2"
    with pytest.warns(UserWarning):
        delta = export_csv(changed, "s", mapping, tmp_path)
    _, rows = read_export(delta.path, "hubspot")
    assert [r["lifecycle_customer_id"] for r in rows] == [uuids[0]]
