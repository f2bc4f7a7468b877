"""A project fed by two CRMs: each CRM's export gets its own customers only (``--customers-from``),
and scores of several tools sent to one CRM are warned of."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.contract import EXPORT_FILE
from serving.scoring import DATA_ATTR

EXPORTS = Path(__file__).parent / "data" / "exports"
FXIAOKE, HUBSPOT = EXPORTS / "fxiaoke_xlsx", EXPORTS / "hubspot"


def _ingest(folder: Path, *args: str):
    from lifecycle_cli import app

    result = CliRunner().invoke(app, ["ingest", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def two_crms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fxiaoke workbooks and HubSpot CSVs ingested together, each tool in its files: section."""
    folder = tmp_path_factory.mktemp("two-crms")
    for f in [*FXIAOKE.glob("*.xlsx"), *HUBSPOT.glob("*.csv")]:
        shutil.copy(f, folder / f.name)
    fxiaoke = yaml.safe_load((FXIAOKE / "map.yaml").read_text("utf-8"))
    hubspot = yaml.safe_load((HUBSPOT / "map.yaml").read_text("utf-8"))
    (folder / "map.yaml").write_text(
        yaml.safe_dump({"files": {"*.xlsx": fxiaoke, "*.csv": hubspot}}, allow_unicode=True),
        encoding="utf-8",
    )
    _ingest(folder, *_two_crm_args(folder), "--out", str(folder / "data"))
    return folder


def _two_crm_args(folder: Path) -> list[str]:
    tables = {"customers": ("客户.xlsx", "contacts.csv")}
    tables |= {"transactions": ("销售订单.xlsx", "deals.csv")}
    tables |= {"events": ("跟进记录.xlsx", "activities.csv")}
    args = [f"--{t}={folder / name}" for t, names in tables.items() for name in names]
    return [*args, "--map-file", str(folder / "map.yaml")]


def _scores(folder: Path, writeback_scores: pd.DataFrame, data: Path | None) -> Path:
    """Scores for the ingested customers (their ids on realistic score rows)."""
    ids = pd.read_parquet(folder / "data" / "customers.parquet")["customer_id"].tolist()
    scores = writeback_scores.head(len(ids)).copy()
    scores["customer_id"] = ids
    if data is not None:
        scores.attrs[DATA_ATTR] = str(data)
    path = folder / "scores.parquet"
    scores.to_parquet(path, index=False)
    return path


def _export(scores: Path, folder: Path, *args: str):
    from lifecycle_cli import app

    out = folder / "out.csv"
    result = CliRunner().invoke(
        app,
        ["export", "--to", "csv", "--scores", str(scores), "--project", "p", "--out", str(out)]
        + ["--exports-dir", str(folder / "exports"), "--full", *args],
    )
    return result, out


def test_ingest_records_each_customers_export_file_and_its_section(two_crms: Path) -> None:
    customers = pd.read_parquet(two_crms / "data" / "customers.parquet")
    files = customers.set_index("customer_id")[EXPORT_FILE].map(lambda f: Path(f).name)
    assert files.to_dict() == {
        **{i: "客户.xlsx" for i in customers["customer_id"] if not i.isdigit()},
        **{i: "contacts.csv" for i in customers["customer_id"] if i.isdigit()},
    }
    assert set(files) == {"客户.xlsx", "contacts.csv"}
    manifest = json.loads((two_crms / "data" / "manifest.json").read_text("utf-8"))
    sections = {Path(f).name: s for f, s in manifest["customer_files"].items()}
    assert sections == {"客户.xlsx": "*.xlsx", "contacts.csv": "*.csv"}


def test_derived_customers_carry_the_file_of_their_first_contact(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "customer_id,ordered_at,amount\nc1,2024-01-05,10\nc2,2024-02-01,5\n", encoding="utf-8"
    )
    (tmp_path / "b.csv").write_text(
        "customer_id,ordered_at,amount\nc1,2024-03-01,7\nc3,2024-01-01,9\nc2,2024-01-20,4\n",
        encoding="utf-8",
    )
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    _ingest(tmp_path, "--transactions", a, "--transactions", b, "--out", str(tmp_path / "data"))
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet")
    files = customers.set_index("customer_id")[EXPORT_FILE].map(lambda f: Path(f).name)
    assert files.to_dict() == {"c1": "a.csv", "c2": "b.csv", "c3": "b.csv"}
    transactions = pd.read_parquet(tmp_path / "data" / "transactions.parquet")
    assert EXPORT_FILE not in transactions  # only customers carry it


def test_each_crm_gets_its_own_customers(two_crms: Path, writeback_scores, tmp_path) -> None:
    scores = _scores(two_crms, writeback_scores, two_crms / "data")
    customers = pd.read_parquet(two_crms / "data" / "customers.parquet")
    hubspot_ids = {i for i in customers["customer_id"] if i.isdigit()}
    result, out = _export(scores, tmp_path, "--crm", "hubspot", "--customers-from", "contacts*")
    assert result.exit_code == 0, result.output
    said = f"{len(hubspot_ids)} of {len(customers)} scored customers, from contacts.csv: 5"
    assert said in result.output
    sent = pd.read_csv(out, dtype=str)
    assert set(sent.iloc[:, 0]) == hubspot_ids
    fx, out_fx = _export(scores, tmp_path / "fx", "--crm", "fxiaoke", "--customers-from", "*.XLSX")
    assert fx.exit_code == 0, fx.output
    sent_fx = pd.read_csv(out_fx, dtype=str, encoding="utf-8-sig")
    assert set(sent_fx.iloc[:, 0]) == set(customers["customer_id"]) - hubspot_ids


def test_scores_of_two_tools_sent_to_one_crm_are_warned_of(
    two_crms: Path, writeback_scores, tmp_path
) -> None:
    scores = _scores(two_crms, writeback_scores, two_crms / "data")
    result, out = _export(scores, tmp_path, "--crm", "hubspot")
    assert result.exit_code == 0, result.output
    assert "come from exports of different tools (" in result.output
    assert "--customers-from " in result.output
    assert len(pd.read_csv(out)) == len(pd.read_parquet(scores))  # warned, not filtered


def test_a_pattern_matching_no_file_or_unknown_origins_is_an_error(
    two_crms: Path, writeback_scores, tmp_path
) -> None:
    scores = _scores(two_crms, writeback_scores, two_crms / "data")
    result, out = _export(scores, tmp_path, "--customers-from", "salesforce*")
    assert result.exit_code == 2
    assert "'salesforce*': matches none of the export files" in result.output
    assert "contacts.csv: 5" in result.output and not out.exists()
    unrecorded = _scores(two_crms, writeback_scores, None)
    result, _ = _export(unrecorded, tmp_path, "--customers-from", "contacts*")
    assert result.exit_code == 2 and "give --data DIR" in result.output
    given, out = _export(
        unrecorded, tmp_path, "--customers-from", "contacts*", "--data", str(two_crms / "data")
    )
    assert given.exit_code == 0, given.output
    old = tmp_path / "old"
    shutil.copytree(two_crms / "data", old)
    frame = pd.read_parquet(old / "customers.parquet").drop(columns=EXPORT_FILE)
    frame.to_parquet(old / "customers.parquet", index=False)
    result, _ = _export(unrecorded, tmp_path, "--customers-from", "x", "--data", str(old))
    assert result.exit_code == 2 and "ingest the exports again" in result.output


def test_a_customers_file_whose_tool_sent_no_events_is_warned_of(two_crms: Path) -> None:
    both = _ingest(two_crms, *_two_crm_args(two_crms), "--out", str(two_crms / "again"))
    assert "has an event" not in both.output  # each tool's activity came
    args = [a for a in _two_crm_args(two_crms) if "跟进记录" not in a]  # no Fxiaoke follow-ups
    result = _ingest(two_crms, *args, "--out", str(two_crms / "without"))
    assert "events: warning: no customer of 客户.xlsx (5 customers) has an event" in result.output
    assert "give its activity export with --events" in result.output
    manifest = json.loads((two_crms / "without" / "manifest.json").read_text("utf-8"))
    assert any("客户.xlsx (5 customers)" in w for w in manifest["tables"]["events"]["warnings"])


def test_a_customer_of_both_crms_goes_to_both_and_patterns_name_folders(
    tmp_path: Path, writeback_scores, monkeypatch
) -> None:
    """C3 is in both CRMs' customers files (the later record wins at ingest): each CRM still gets
    it. Files ingested by relative paths are found by their folder, their absolute path or their
    name; two files of one name are told apart by path in what is said."""
    for crm, ids in (("a", ("C1", "C2", "C3")), ("b", ("C3", "C4", "C5"))):
        (tmp_path / crm).mkdir()
        (tmp_path / crm / "customers.csv").write_text(
            "customer_id,signup_at\n"
            + "".join(f"{i},2024-01-0{n + 1}\n" for n, i in enumerate(ids)),
            encoding="utf-8",
        )
        (tmp_path / crm / "orders.csv").write_text(
            "customer_id,ordered_at,amount\n" + "".join(f"{i},2024-02-01,10\n" for i in ids),
            encoding="utf-8",
        )
    monkeypatch.chdir(tmp_path)
    _ingest(
        tmp_path,
        *("--customers", "a/customers.csv", "--customers", "b/customers.csv"),
        *("--transactions", "a/orders.csv", "--transactions", "b/orders.csv"),
        *("--out", "data"),
    )
    scores = _scores(tmp_path, writeback_scores, tmp_path / "data")
    for pattern, want in (
        ("a/*", {"C1", "C2", "C3"}),
        (str(tmp_path / "b" / "customers.csv"), {"C3", "C4", "C5"}),
        ("B/Customers.CSV", {"C3", "C4", "C5"}),
        ("customers.csv", {"C1", "C2", "C3", "C4", "C5"}),
    ):
        result, out = _export(
            scores, tmp_path / pattern.replace("/", "_"), "--customers-from", pattern
        )
        assert result.exit_code == 0, result.output
        assert set(pd.read_csv(out, dtype=str).iloc[:, 0]) == want, pattern
    said = _export(scores, tmp_path / "said", "--customers-from", "a/*")[0].output
    assert f"3 of 5 scored customers, from {tmp_path / 'a' / 'customers.csv'}: 3" in said, said


def test_the_suggested_pattern_keeps_one_file_when_two_crms_share_a_file_name(tmp_path) -> None:
    """Two CRMs' files are both called contacts.csv: the warning's --customers-from names the
    folder too, and that pattern keeps one file's customers, as the warning says."""
    import re

    from features.contract import table_path
    from serving.writeback.origins import keep_from, mixed_tools_note

    hub, zoho = "/data/hubspot/contacts.csv", "/data/zoho/Contacts.csv"
    ids = [f"c{i}" for i in range(6)]
    pd.DataFrame({"customer_id": ids, EXPORT_FILE: [hub] * 4 + [zoho] * 2}).to_parquet(
        table_path(tmp_path, "customers")
    )
    (tmp_path / "manifest.json").write_text(
        json.dumps({"customer_files": {hub: "hubspot", zoho: "zoho"}}), encoding="utf-8"
    )
    scores = pd.DataFrame({"customer_id": ids, "score": 0.5})
    note = mixed_tools_note(scores, tmp_path, "hubspot")
    (pattern,) = re.findall(r"--customers-from '([^']+)'", note)
    assert pattern == "hubspot/contacts.csv"
    kept, _ = keep_from(scores, [pattern], tmp_path)
    assert kept["customer_id"].tolist() == ids[:4]


def test_a_customer_without_a_recorded_file_is_matched_by_no_pattern(tmp_path, writeback_scores):
    from serving.writeback.origins import keep_from

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {"customer_id": ["a", "b"], EXPORT_FILE: ["/x/hubspot/contacts.csv", None]}
    ).to_parquet(data / "customers.parquet")
    scores = writeback_scores.head(2).assign(customer_id=["a", "b"])
    kept, said = keep_from(scores, ["*"], data)
    assert kept["customer_id"].tolist() == ["a"]
    assert said == (
        "--customers-from: 1 of 2 scored customers, from contacts.csv: 1; 1 scored customers "
        f"have no export file in {data} (left out)"
    )


def test_a_person_in_two_tools_is_said_with_both_files_and_how_to_make_them_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "hubspot_contacts.csv").write_text(
        "Record ID,Email,Create Date\n101,ana@x.com,2024-01-05\n102,ben@x.com,2024-01-06\n",
        encoding="utf-8",
    )
    (tmp_path / "shopify_customers.csv").write_text(
        "Email,Created at\nAna@X.com,2024-02-01\ncleo@x.com,2024-02-02\n", encoding="utf-8"
    )
    (tmp_path / "orders.csv").write_text(
        "Email,Created at,Total\nana@x.com,2024-03-01,10\ncleo@x.com,2024-03-02,20\n",
        encoding="utf-8",
    )
    (tmp_path / "map.yaml").write_text(
        yaml.safe_dump(
            {
                "files": {
                    "hubspot_*": {"columns": {"customers.customer_id": "Record ID",
                                              "customers.customer_email": "Email",
                                              "signup_at": "Create Date"}},
                    "shopify_*": {"columns": {"customers.customer_id": "Email",
                                              "customers.customer_email": "Email",
                                              "signup_at": "Created at"}},
                    "orders.csv": {"columns": {"transactions.customer_email": "Email",
                                               "ordered_at": "Created at", "amount": "Total"}},
                }
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    result = _ingest(
        tmp_path,
        *("--customers", str(tmp_path / "hubspot_contacts.csv")),
        *("--customers", str(tmp_path / "shopify_customers.csv")),
        *("--transactions", str(tmp_path / "orders.csv")),
        *("--map-file", str(tmp_path / "map.yaml"), "--out", str(tmp_path / "data")),
        "--min-accepted-share",
        "0",
    )
    said = next(line for line in result.output.splitlines() if "belong to more than one" in line)
    assert "1 of them are customers of different files (e.g. 'ana@x.com': '101' in " in said
    assert "hubspot_contacts.csv" in said and "shopify_customers.csv" in said
    assert "use the e-mail as the customer id in each customers file" in said
