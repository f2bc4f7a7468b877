"""Customers the CRM says not to contact (``customers.do_not_contact``): ingest reads the flag in
the CRMs' spellings, and scoring keeps their scores and tier but recommends no contact, whatever
the rules, an uplift champion or the tier hold would say."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runs import cli_ok

from features.ingest import ingest
from features.mapping import IngestError, load_mapping
from serving.config import ScoringConfig
from serving.scoring import score_frame, summarise

PAY = "id,day,amount\n" + "".join(f"C{i},2024-03-0{i},40\n" for i in range(1, 8))


def _ingest(tmp_path: Path, customers: list[str], mapping: str = "", **kw) -> list[str]:
    """Ingest customers files (text, named c0.csv, c1.csv ...) with the payments above into
    ``tmp_path/data``; the log lines."""
    files = []
    for i, text in enumerate(customers):
        files.append(tmp_path / f"c{i}.csv")
        files[-1].write_text(text, encoding="utf-8")
    (tmp_path / "pay.csv").write_text(PAY)
    lines: list[str] = []
    base = "customer_id=id,signup_at=joined,ordered_at=day,amount=amount"
    ingest(
        tmp_path / "data",
        customers=files,
        transactions=tmp_path / "pay.csv",
        mapping=load_mapping(f"{base},{mapping}" if mapping else base, **kw),
        log=lines.append,
    )
    return lines


def _flags(tmp_path: Path) -> dict[str, bool]:
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet")
    assert customers["do_not_contact"].dtype == bool
    return dict(zip(customers["customer_id"], customers["do_not_contact"], strict=True))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", " YES ", "y", "1", "X", "Checked", "wahr"], [True] * 7),
        (["ja", "oui", "Vrai", "是", "√", "1.0", "TRUE"], [True] * 7),
        (["false", "No", "n", "0", "", "unchecked", "nein"], [False] * 7),
        (["non", "否", "FALSE", "", "", "", "0"], [False] * 7),
    ],
)
def test_the_flag_is_read_in_the_crms_spellings(
    tmp_path: Path, values: list[str], expected: list[bool]
) -> None:
    rows = "".join(f"C{i},2024-01-01,{v}\n" for i, v in enumerate(values, 1))
    lines = _ingest(tmp_path, ["id,joined,Do Not Contact\n" + rows])  # found by its name
    assert [_flags(tmp_path)[f"C{i}"] for i in range(1, 8)] == expected
    assert not any("neither yes nor no" in x for x in lines)


def test_a_few_odd_values_are_read_as_no_counted_and_named(tmp_path: Path) -> None:
    rows = "C1,2024-01-01,Yes\nC2,2024-01-01,maybe\nC3,2024-01-01,No\nC4,2024-01-01,\n"
    rows += "C5,2024-01-01,Yes\nC6,2024-01-01,maybe\nC7,2024-01-01,x\n"
    lines = _ingest(tmp_path, ["id,joined,Deceased\n" + rows], "do_not_contact=Deceased")
    flags = _flags(tmp_path)
    assert [k for k, v in flags.items() if v] == ["C1", "C5", "C7"]
    said = [x for x in lines if "neither yes nor no" in x]
    assert len(said) == 1 and "2 value(s) of column 'Deceased'" in said[0]
    assert "'maybe' x 2" in said[0] and "customers.do_not_contact" in said[0]
    assert any("do_not_contact: 3 customers not to be contacted" in x for x in lines)


def test_a_column_mostly_of_other_values_is_refused_and_the_data_left_as_it_was(
    tmp_path: Path,
) -> None:
    """Mapped to a column of reasons (or dates), the flag is no flag: refused, naming the file
    and the column with examples; the contract directory ingested before stays whole."""
    good = "id,joined,DNC\n" + "".join(f"C{i},2024-01-01,no\n" for i in range(1, 8))
    _ingest(tmp_path, [good], "do_not_contact=DNC")
    data = tmp_path / "data"
    before = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    odd = ["moved away", "2023-05-01", "bad debt", "moved away", "yes", "", "price"]
    garbage = "id,joined,DNC\n" + "".join(f"C{i},2024-01-01,{v}\n" for i, v in enumerate(odd, 1))
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, [garbage], "do_not_contact=DNC")
    message = str(err.value)
    assert "c0.csv" in message and "'DNC'" in message and "do_not_contact" in message
    assert "not a usable yes/no column" in message and "'moved away' x 2" in message
    after = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert after == before  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0.csv", "data", "pay.csv"]


def test_a_second_customers_file_without_the_flag_keeps_the_first_files_flags(
    tmp_path: Path,
) -> None:
    """The CRM's opt-out list, then a contact list without the column: the list's records
    replace the first file's and would drop the flags, with nothing said."""
    crm = "id,joined,opt out\nC1,2024-01-01,yes\nC2,2024-01-01,no\nC3,2024-01-01,yes\n"
    contacts = "id,joined\nC1,2024-01-01\nC3,2024-01-01\nC4,2024-01-01\n"
    (tmp_path / "map.yaml").write_text(
        "columns: {customer_id: id, signup_at: joined, ordered_at: day, amount: amount}\n"
        "files:\n  c0.csv: {columns: {customers.do_not_contact: opt out}}\n"
    )
    files = [tmp_path / "c0.csv", tmp_path / "c1.csv"]
    files[0].write_text(crm)
    files[1].write_text(contacts)
    (tmp_path / "pay.csv").write_text(PAY)
    lines: list[str] = []
    ingest(
        tmp_path / "data",
        customers=files,
        transactions=tmp_path / "pay.csv",
        mapping=load_mapping(map_file=tmp_path / "map.yaml"),
        log=lines.append,
    )
    assert _flags(tmp_path) == {"C1": True, "C2": False, "C3": True, "C4": False}
    assert any(
        "2 customers' do-not-contact flags taken from the customers file" in x for x in lines
    )


def _rows(flagged: list[bool]) -> pd.DataFrame:
    from test_value import feature_rows  # the scoring tests' steady, lapsing and prospect

    rows = feature_rows()
    return rows.assign(cutoff=pd.Timestamp("2025-04-01"), do_not_contact=flagged)


def _scores(rows: pd.DataFrame, config: ScoringConfig | None = None, **kw) -> pd.DataFrame:
    return score_frame(
        rows,
        [0.1, 0.8, np.nan],
        [200.0, 300.0, 50.0],
        None,
        config or ScoringConfig(),
        "2025-04-01",
        "c:1",
        "v:1",
        **kw,
    )


def test_a_flagged_customer_keeps_scores_and_tier_and_is_recommended_no_contact() -> None:
    plain = _scores(_rows([False, False, False]))
    barred = _scores(_rows([False, True, True]))
    kept = [c for c in plain.columns if c not in ("recommended_action", "recommended_action_label")]
    kept.remove("reasons")
    pd.testing.assert_frame_equal(barred[kept], plain[kept])  # stage, p, value, tier, at risk
    assert plain.loc[1, "recommended_action"].startswith("win_back.")  # a call to a lapsed donor
    assert list(barred["recommended_action"]) == [
        plain.loc[0, "recommended_action"],
        "do_not_contact",
        "do_not_contact",  # a prospect too: no first-purchase offer
    ]
    assert barred.loc[1, "recommended_action_label"] == (
        "Do not contact: the CRM says so (opted out, deceased or blocked)"
    )
    assert barred.loc[1, "reasons"][0].startswith("do not contact: the CRM marks this customer")
    assert barred.loc[1, "reasons"][1:] == plain.loc[1, "reasons"]
    assert barred.loc[2, "reasons"][1:] == plain.loc[2, "reasons"]
    assert summarise(barred)["customers_not_to_contact"] == 2
    assert "customers_not_to_contact" not in summarise(plain)
    zh = _scores(_rows([False, True, False]), ScoringConfig(language="zh"))
    assert zh.loc[1, "recommended_action_label"].startswith("勿联系")
    assert zh.loc[1, "reasons"][0].startswith("勿联系：CRM 标记该客户不可联系")


def test_an_uplift_champion_gives_a_flagged_customer_no_contact_action() -> None:
    from serving.uplift_scoring import UpliftEffects, UpliftPolicy

    policy = UpliftPolicy(
        "3", ("discount",), {"discount": 5.0}, 90, {"p1_from": 1.0, "p2_from": 0.5, "p3_from": 0.1}
    )
    effects = UpliftEffects(np.array([[300.0], [300.0], [0.0]]), None, policy)
    plain = _scores(_rows([False, False, False]), uplift=effects)
    barred = _scores(_rows([True, False, False]), uplift=effects)
    assert list(plain["recommended_action"][:2]) == ["discount", "discount"]
    assert list(barred["recommended_action"][:2]) == ["do_not_contact", "discount"]
    for column in ("priority_score", "priority_tier", "value_at_risk", "expected_saved_value"):
        assert barred.loc[0, column] == plain.loc[0, column], column
    assert barred.loc[0, "reasons"][0].startswith("do not contact")


def test_the_tier_hold_puts_no_action_back_on_a_flagged_customer() -> None:
    from test_action_hold import CONFIG, features, previous, scores

    from serving.action_hold import hold_tiers

    before = previous([("c", "declining", 35.0), ("d", "declining", 35.0)])
    now = scores([("c", "declining", 45.0), ("d", "declining", 45.0)])
    now.loc[0, "recommended_action"] = "do_not_contact"  # as score_columns gives it
    out, n = hold_tiers(now, features(["c", "d"]), before, CONFIG)
    assert n == 1  # d is held as before; c is not to be contacted
    assert list(out["recommended_action"]) == [
        "do_not_contact",
        "survey_service_recovery.targeted_campaign",
    ]


def test_the_crm_export_carries_the_action_in_the_mappings_language() -> None:
    from serving.writeback.fields import load_mapping as crm_mapping
    from serving.writeback.fields import records

    barred = _scores(_rows([False, True, False]))
    sent, rejects = records(barred, crm_mapping("generic"))
    assert not rejects
    assert sent[1]["recommended_action"] == "do_not_contact"
    assert sent[1]["recommended_action_label"].startswith("Do not contact: the CRM says so")
    in_zh = _scores(_rows([False, True, False]), ScoringConfig(language="zh"))
    zh, _ = records(in_zh, crm_mapping("zoho-cn"))
    assert zh[1]["Next_Best_Action"].startswith("勿联系")


@pytest.mark.slow
def test_lifecycle_score_recommends_no_contact_to_the_flagged_customers_of_an_export(
    tmp_path: Path,
) -> None:
    """End to end: a CRM export with a Do Not Contact column ingested, scored by the champion
    pair trained without it, exported: the flagged customers keep their tier and value at risk
    and get no contact; everyone else is scored as without the column."""
    from service_fixtures import PROJECT, prepare_store

    store = prepare_store(tmp_path / "store", n_customers=300)
    customers = pd.read_parquet(store.data_dir / "customers.parquet")
    orders = pd.read_parquet(store.data_dir / "transactions.parquet")
    ids = sorted(orders["customer_id"].unique())[:6]
    exports = tmp_path / "exports"
    exports.mkdir()
    columns = ["customer_id", "signup_at", "region", "channel", "segment"]
    customers[columns].to_csv(exports / "plain.csv", index=False)
    flagged = customers[columns].assign(
        **{"Do Not Contact": np.where(customers["customer_id"].isin(ids), "Yes", "")}
    )
    flagged.to_csv(exports / "crm.csv", index=False)
    orders[["customer_id", "ordered_at", "amount"]].to_csv(exports / "orders.csv", index=False)
    events = pd.read_parquet(store.data_dir / "events.parquet")
    events.to_csv(exports / "events.csv", index=False)
    common = ["--tracking-uri", store.tracking_uri, "--project", PROJECT]
    common += ["--as-of", str(store.as_of)]
    scored = {}
    for name in ("plain", "crm"):
        data, out = tmp_path / f"data-{name}", tmp_path / f"{name}.parquet"
        args = ["ingest", "--customers", str(exports / f"{name}.csv")]
        args += ["--transactions", str(exports / "orders.csv"), "--out", str(data)]
        args += ["--events", str(exports / "events.csv")]
        cli_ok(args)
        cli_ok(["score", "--data", str(data), "--out", str(out), *common])
        scored[name] = pd.read_parquet(out).sort_values("customer_id", ignore_index=True)
    plain, crm = scored["plain"], scored["crm"]
    barred = crm["customer_id"].isin(ids).to_numpy()
    assert (crm.loc[barred, "recommended_action"] == "do_not_contact").all()
    assert not (plain["recommended_action"] == "do_not_contact").any()
    assert crm.loc[barred, "reasons"].map(lambda r: r[0].startswith("do not contact")).all()
    same = [c for c in plain.columns if c not in ("recommended_action", "reasons")]
    same.remove("recommended_action_label")
    pd.testing.assert_frame_equal(crm[same], plain[same])  # tier, value at risk ...
    pd.testing.assert_frame_equal(crm[~barred], plain[~barred])
    csv = tmp_path / "crm-export.csv"
    args = ["export", "--to", "csv", "--scores", str(tmp_path / "crm.parquet"), "--out", str(csv)]
    cli_ok([*args, "--exports-dir", str(tmp_path / "exports-state")])
    sent = pd.read_csv(csv, dtype=str).set_index("customer_id")
    assert (sent.loc[ids, "recommended_action"] == "do_not_contact").all()
    assert date.fromisoformat(str(sent["as_of"].iloc[0])) == store.as_of
