"""The campaigns table: validation with quarantine, outcomes without look-ahead, Hillstrom
ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.campaigns import (
    campaign_outcomes,
    ingest_campaigns,
    load_campaigns,
    validate_campaigns,
)
from features.hillstrom import DEFAULT_SOURCE, ingest_hillstrom
from features.mapping import IngestError


def _contract_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "signup_at": pd.to_datetime(["2024-01-01"] * 3).astype("datetime64[us]"),
        }
    ).to_parquet(data / "customers.parquet", index=False)
    pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B", "C"],
            "ordered_at": pd.to_datetime(
                ["2024-02-01", "2024-03-01", "2024-03-31", "2024-03-10", "2024-03-15", "2024-05-01"]
            ).astype("datetime64[us]"),
            "amount": [10.0, 20.0, 99.0, 5.0, -5.0, 7.0],
        }
    ).to_parquet(data / "transactions.parquet", index=False)
    return data


def _export(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.csv"
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path


def _ingest_args(tmp_path: Path, orders: str, campaigns: str) -> tuple[list[str], Path, Path, Path]:
    """``lifecycle ingest`` arguments for an orders export and a campaigns export written from
    text; the orders file, the campaigns file and the output folder."""
    tx = tmp_path / "tx.csv"
    tx.write_text(orders)
    camp = _export(tmp_path, campaigns)
    out = tmp_path / "data"
    args = ["ingest", "--transactions", str(tx), "--out", str(out), "--campaigns", str(camp)]
    return args, tx, camp, out


def test_bad_rows_are_quarantined_with_reasons_and_counted(tmp_path):
    data = _contract_dir(tmp_path)
    lines = [
        "Cust,Sent,Campaign,Action,Group,Cost",
        "A,2024-03-01,c1,Discount,Treatment,5",
        "B,2024-03-01,c1,,Holdout,",
        "C,2024-03-01,c1,call,maybe,5",  # unknown arm
        "Z,2024-03-01,c1,call,treated,5",  # unknown customer
        "A,2024-03-01,c1,call,treated,5",  # second row of A in c1
        "B,not a date,c2,call,treated,5",  # unparsable date
        "C,2024-03-01,c2,,treated,5",  # treated without an action
        "C,2024-03-01,c3,email,treated,-1",  # negative cost
        "C,2024-03-01,c4,email,treated,x",  # cost is not a number: kept, cost missing
    ]
    source = _export(tmp_path, "\n".join(lines))
    columns = {
        "customer_id": "Cust",
        "sent_at": "Sent",
        "campaign_id": "Campaign",
        "action": "Action",
        "arm": "Group",
        "cost": "Cost",
    }
    report = ingest_campaigns(data, source, columns, log=lambda m: None)
    assert (report.rows_read, report.accepted, report.quarantined) == (9, 3, 6)
    assert report.reasons == {
        "unknown arm 'maybe' (expected treated or control: e.g. Treatment A, Variant, Control, "
        "Holdout; or name it in the map file: values: {arm: {'maybe': treated}})": 1,
        "unknown customer_id": 1,
        "duplicate customer_id in campaign": 1,
        "unparsable sent_at": 1,
        "missing action on a treated row": 1,
        "negative cost": 1,
    }
    accepted = load_campaigns(data)
    assert accepted[["customer_id", "action", "arm"]].values.tolist() == [
        ["A", "discount", "treated"],
        ["B", "none", "control"],
        ["C", "email", "treated"],
    ]
    assert accepted["cost"].isna().tolist() == [False, True, True]
    quarantine = pd.read_parquet(data / "quarantine" / "campaigns.parquet")
    assert len(quarantine) == 6 and set(quarantine["source_row"]) == {4, 5, 6, 7, 8, 9}
    manifest = (data / "manifest.json").read_text()
    assert '"campaigns"' in manifest


def test_a_campaign_export_with_its_own_reason_column_ingests(tmp_path):
    data = _contract_dir(tmp_path)
    lines = [
        "Cust,Sent,Campaign,Group,reason",
        "A,2024-03-01,c1,control,x",
        "Z,2024-03-01,c1,control,y",
    ]
    columns = {"customer_id": "Cust", "sent_at": "Sent", "campaign_id": "Campaign", "arm": "Group"}
    report = ingest_campaigns(
        data, _export(tmp_path, "\n".join(lines)), columns, log=lambda m: None
    )
    assert (report.accepted, report.quarantined) == (1, 1)
    quarantine = pd.read_parquet(data / "quarantine" / "campaigns.parquet")
    assert quarantine[["reason", "reason (in the file)"]].values.tolist() == [
        ["unknown customer_id", "y"]
    ]


def test_unusable_file_names_file_and_column(tmp_path):
    source = _export(tmp_path, "customer_id,sent_at,campaign_id\nA,2024-03-01,c1\n")
    frame = pd.read_csv(source, dtype="string")
    with pytest.raises(IngestError, match=r"campaigns\.csv.*'arm'"):
        validate_campaigns(frame, source)
    with pytest.raises(IngestError, match=r"'Group'.*campaigns\.arm"):
        validate_campaigns(frame, source, {"arm": "Group"})
    with pytest.raises(IngestError, match="not campaigns columns"):
        validate_campaigns(frame, source, {"segment": "x"})


def test_outcomes_come_from_the_window_after_sent_at_only(tmp_path):
    data = _contract_dir(tmp_path)
    lines = [
        "customer_id,sent_at,campaign_id,action,arm",
        "A,2024-03-01,c1,call,treated",
        "B,2024-03-01,c1,,control",
        "C,2024-03-01,c1,,control",
        "C,2024-04-20,c2,call,treated",
    ]
    source = _export(tmp_path, "\n".join(lines))
    ingest_campaigns(data, source, log=lambda m: None)
    out = campaign_outcomes(data, horizon_days=30, as_of="2024-05-21")
    keyed = out.set_index(["customer_id", "campaign_id"])
    # A: 2024-03-01 is in the window (it starts at sent_at), 2024-03-31 is not (it ends before)
    assert keyed.loc[("A", "c1"), ["retained", "value"]].tolist() == [1.0, 20.0]
    # B: a purchase and its return: retained, value 0
    assert keyed.loc[("B", "c1"), ["retained", "value"]].tolist() == [1.0, 0.0]
    assert keyed.loc[("C", "c1"), ["retained", "value"]].tolist() == [0.0, 0.0]
    assert keyed.loc[("C", "c2"), ["retained", "value"]].tolist() == [1.0, 7.0]
    # as of 2024-05-02 the c2 window (to 2024-05-20) is not over: no outcome for it yet
    early = campaign_outcomes(data, horizon_days=30, as_of="2024-05-02")
    assert set(early["campaign_id"]) == {"c1"}
    # no look-ahead: purchases on or after the cutoff change nothing
    tx = pd.read_parquet(data / "transactions.parquet")
    late = pd.DataFrame(
        {
            "customer_id": ["C", "A"],
            "amount": [50.0, 60.0],
            "ordered_at": pd.to_datetime(["2024-05-21", "2024-06-01"]).astype("datetime64[us]"),
        }
    )
    pd.concat([tx, late]).to_parquet(data / "transactions.parquet", index=False)
    again = campaign_outcomes(data, horizon_days=30, as_of="2024-05-21")
    pd.testing.assert_frame_equal(again, out)


def test_outcomes_given_directly_are_kept(tmp_path):
    data = tmp_path / "d"
    source = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm,retained,value\n"
        "A,2024-03-01,c1,email,treated,1,12.5\nB,2024-03-01,c1,,control,0,0\n"
        "C,2024-03-01,c1,,control,2,0\n",
    )
    report = ingest_campaigns(data, source, log=lambda m: None)
    assert report.reasons == {"retained is not 0 or 1": 1}
    out = campaign_outcomes(data, horizon_days=14)
    assert out[["customer_id", "retained", "value"]].values.tolist() == [
        ["A", 1.0, 12.5],
        ["B", 0.0, 0.0],
    ]
    # a cutoff before the window's end: those outcomes are its future (they were all read)
    assert campaign_outcomes(data, horizon_days=14, as_of="2024-03-14").empty
    assert len(campaign_outcomes(data, horizon_days=14, as_of="2024-03-15")) == 2


@pytest.mark.skipif(
    not DEFAULT_SOURCE.exists(), reason="../shared/data/hillstrom is not on this machine"
)
def test_hillstrom_ingests_through_the_campaigns_table(tmp_path):
    report = ingest_hillstrom(tmp_path / "h", log=lambda m: None)
    assert (report.rows_read, report.accepted, report.quarantined) == (48_000, 48_000, 0)
    out = campaign_outcomes(tmp_path / "h", horizon_days=14)
    rates = out.groupby("action")["retained"].mean()
    # the README's whole-file visit rates are 18.3% / 15.1% / 10.6%; this is a 75% sample
    assert abs(rates["mens_email"] - 0.183) < 0.01 and abs(rates["none"] - 0.106) < 0.01
    assert set(out["arm"]) == {"treated", "control"}
    features = pd.read_parquet(tmp_path / "h" / "campaign_features.parquet")
    assert len(features) == 48_000 and features["history"].notna().all()


def test_hillstrom_refuses_another_data_sets_folder_and_a_wrong_file(tmp_path):
    """--hillstrom into a folder holding another data set half replaced it (customers and
    campaigns swapped, its transactions kept); a CSV without Hillstrom's columns left an empty
    folder behind."""
    data = _contract_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    with pytest.raises(IngestError, match=r"holds another data set's files \(transactions"):
        ingest_hillstrom(data, DEFAULT_SOURCE, log=lambda m: None)
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    wrong = _export(tmp_path, "customer_id,sent_at\nA,2024-03-01")
    with pytest.raises(ValueError, match="missing Hillstrom columns"):
        ingest_hillstrom(tmp_path / "new", wrong, log=lambda m: None)
    assert not (tmp_path / "new").exists()


def test_cli_ingest_with_campaigns(tmp_path):
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, _, _, out = _ingest_args(
        tmp_path,
        "customer_id,ordered_at,amount\nA,2024-02-01,10\nB,2024-02-03,5\n",
        "Cust,Sent,campaign_id,action,arm\nA,2024-03-01,c1,call,treated\n"
        "B,2024-03-01,c1,,control\nQ,2024-03-01,c1,call,treated\n"
        "A,2099-03-01,c2,call,treated\n",  # a typo for 2019-03-01: in the future, as in orders
    )
    result = CliRunner().invoke(app, [*args, "--campaigns-map", "customer_id=Cust,sent_at=Sent"])
    assert result.exit_code == 0, result.output
    assert "campaigns: 4 rows read, 2 accepted, 2 quarantined" in result.output
    assert "sent_at in the future: 1" in result.output
    assert len(load_campaigns(out)) == 2


def test_arm_words_marketing_tools_use_are_read(tmp_path):
    from features.campaigns import arm_of

    words = pd.Series(["Treatment A", "Variant 2", "test_b", "Holdout", "Control", "hold out", "?"])
    assert arm_of(words.astype("string")).tolist() == [
        "treated",
        "treated",
        "treated",
        "control",
        "control",
        "control",
        pd.NA,
    ]
    # a control word wins wherever it stands; a treated one counts as the first word only
    more = {
        "Test Control": "control",
        "Control A": "control",
        "Control-2": "control",
        "control_1": "control",
        "Holdout Group": "control",
        "对照组": "control",
        "0.0": "control",
        "实验组": "treated",
        "1.0": "treated",
        "uncontrolled": pd.NA,
        "Group Test": pd.NA,
        "non-control": pd.NA,  # negated or contrasted: neither arm for sure, so quarantined
        "not control": pd.NA,
        "Treatment (vs control)": pd.NA,
        "Test vs. holdout": pd.NA,
    }
    assert arm_of(pd.Series(list(more), dtype="string")).tolist() == list(more.values())
    path = _export(tmp_path, "customer_id,sent_at,campaign_id,action,arm\nA,2024-03-01,c,x,Maybe")
    _, quarantined, _ = validate_campaigns(pd.read_csv(path, dtype=str), path)
    assert "unknown arm 'Maybe' (expected treated or control" in quarantined["reason"].iloc[0]


def test_campaign_dates_follow_the_date_order_asked(tmp_path):
    data = _contract_dir(tmp_path)
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,03/02/2024,c,email,treated\n"
        "B,03/02/2024,c,,control\n",
    )
    ingest_campaigns(data, path, date_order="dmy", log=lambda _: None)
    assert (load_campaigns(data)["sent_at"] == pd.Timestamp("2024-02-03")).all()


def test_ambiguous_campaign_dates_follow_the_export_or_are_warned_of(tmp_path):
    """``01.05.2025`` fits both orders. Beside orders whose dates showed day first (``25.04``),
    the campaigns read it as 1 May; alone, the guess is said in the report (it was silently
    read as 5 January)."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, _, _, out = _ingest_args(
        tmp_path,
        "customer_id;ordered_at;amount\nA;25.04.2025;10,00\nB;02.04.2025;5,50\n",
        "customer_id;sent_at;campaign_id;action;arm\nA;01.05.2025;c1;call;treated\n"
        "B;01.05.2025;c1;;control\n",
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (load_campaigns(out)["sent_at"] == pd.Timestamp("2025-05-01")).all()
    assert "day/month order as the other tables of the export showed" in result.output
    (tmp_path / "alone").mkdir()
    alone = _contract_dir(tmp_path / "alone")
    path = _export(
        tmp_path / "alone",
        "customer_id,sent_at,campaign_id,action,arm\nA,01.05.2024,c,email,treated\n"
        "B,01.05.2024,c,,control\n",
    )
    said: list[str] = []
    ingest_campaigns(alone, path, log=said.append)
    assert any("fit both dd/mm/yyyy and mm/dd/yyyy" in line for line in said), said


def test_a_failed_campaigns_ingest_changes_nothing(tmp_path):
    """A campaigns export that cannot be read (a mapped column missing, too few rows accepted)
    fails before the other tables are replaced: the previous ingest stays whole."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, tx, camp, out = _ingest_args(
        tmp_path,
        "customer_id,ordered_at,amount\nA,2024-02-01,10\nB,2024-02-03,5\n",
        "Cust,Sent,campaign_id,action,arm\nA,2024-03-01,c1,call,Treatment A\n"
        "B,2024-03-01,c1,,Holdout\n",
    )
    first = CliRunner().invoke(app, [*args, "--campaigns-map", "customer_id=Cust,sent_at=Sent"])
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.glob("*.parquet")}
    assert "campaigns.parquet" in before
    tx.write_text("customer_id,ordered_at,amount\nA,2024-02-01,10\nZ,2024-02-03,5\n")
    typo = CliRunner().invoke(app, [*args, "--campaigns-map", "customer_id=Cust,sent_at=Send"])
    assert typo.exit_code == 2 and "column 'Send' (mapped to campaigns.sent_at)" in typo.output
    camp.write_text("Cust,Sent,campaign_id,action,arm\nA,2024-03-01,c1,call,Maybe\n"
                    "B,2024-03-01,c1,,Perhaps\n")  # fmt: skip
    few = CliRunner().invoke(app, [*args, "--campaigns-map", "customer_id=Cust,sent_at=Sent"])
    assert few.exit_code == 2 and "only 0 of 2 rows accepted" in few.output
    assert "options (--campaigns-map," in " ".join(few.output.split())  # the option to fix
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == before
    # customers the new tables do not know: found before the swap, so nothing changes either
    camp.write_text("Cust,Sent,campaign_id,action,arm\nX,2024-03-01,c1,call,treated\n"
                    "Y,2024-03-01,c1,,control\n")  # fmt: skip
    unknown = CliRunner().invoke(
        app, [*args, "--campaigns-map", "customer_id=Cust,sent_at=Sent", "--min-accepted-share",
              "0.5"]
    )  # fmt: skip
    assert unknown.exit_code == 2 and "unknown customer_id: 2" in unknown.output, unknown.output
    assert "nothing written (the previous --out is unchanged)" in unknown.output
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == before
    assert "campaigns" in json.loads((out / "manifest.json").read_text())["tables"]


def test_generated_campaigns_with_an_empty_outcome_column_ingest(tmp_path):
    """``generate --campaigns`` writes ``retained``/``value`` columns that are all null (outcomes
    come from transactions); re-ingesting that file read them as numbers and crashed."""
    data = _contract_dir(tmp_path)
    source = tmp_path / "campaigns.parquet"
    pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "sent_at": pd.to_datetime(["2024-03-01"] * 2),
            "campaign_id": ["c"] * 2,
            "action": ["call", None],
            "arm": ["treated", "control"],
            "cost": [2.0, None],
            "retained": [None, None],
            "value": [None, None],
        }
    ).astype({"retained": "float64", "value": "float64"}).to_parquet(source, index=False)
    report = ingest_campaigns(data, source, log=lambda _: None)
    assert (report.accepted, report.quarantined) == (2, 0), report.reasons
    assert load_campaigns(data)["retained"].isna().all()


def test_costs_with_a_decimal_comma_and_a_currency_mark_are_read(tmp_path):
    data = _contract_dir(tmp_path)
    path = _export(
        tmp_path,
        "customer_id;sent_at;campaign_id;action;arm;cost\n"
        'A;2024-03-01;c;call;treated;"€5,00"\nB;2024-03-01;c;;control;0,00\n'
        "C;2024-03-01;c;call;treated;12,50 €\n",
    )
    report = ingest_campaigns(data, path, log=lambda _: None)
    assert report.quarantined == 0, report.reasons
    assert "decimal ','" in report.formats["numbers"], report.formats
    costs = load_campaigns(data).set_index("customer_id")["cost"]
    assert costs.to_dict() == {"A": 5.0, "B": 0.0, "C": 12.5}


def test_a_missing_cost_is_missing_and_a_control_rows_cost_is_not_read(tmp_path):
    """Spreadsheet blanks ("N/A", "-", "null") in the optional cost are a missing cost, not a
    quarantined row; text in a control row's cost (never read) keeps the row; an action's cost is
    the mean of the treated rows that give one, not a missing cost counted as a free contact."""
    from features.campaigns import action_costs

    data = _contract_dir(tmp_path)
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm,cost\n"
        "A,2024-03-01,c,call,treated,N/A\nB,2024-03-01,c,,control,n/a\n"
        "C,2024-03-01,c,call,treated,8\nA,2024-03-02,d,call,treated,-\n"
        "B,2024-03-02,d,,control,free\nC,2024-03-02,d,call,treated,four\n",
    )
    report = ingest_campaigns(data, path, log=lambda _: None)
    assert report.reasons == {}  # C's 'four' on a treated row: a missing cost, said
    assert any(
        "cost is not a number in 1 contacted rows (e.g. 'four')" in w for w in report.warnings
    )
    rows = load_campaigns(data)
    assert len(rows) == 6 and rows["cost"].notna().sum() == 1
    assert action_costs(rows) == {"call": 8.0}
    assert action_costs(rows.assign(cost=float("nan"))) == {"call": 0.0}


def test_a_customer_in_both_arms_is_quarantined_as_such_not_as_a_duplicate(tmp_path):
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,2024-03-01,c,call,treated\n"
        "A,2024-03-01,c,,control\nB,2024-03-01,c,call,treated\nB,2024-03-01,c,call,treated\n"
        "C,2024-03-01,c,,control\n",
    )
    accepted, quarantined, report = validate_campaigns(pd.read_csv(path, dtype=str), path)
    assert accepted["customer_id"].tolist() == ["B", "C"]
    assert report.reasons == {
        "customer in both arms of the campaign (treated and control)": 2,
        "duplicate customer_id in campaign": 1,
    }
    assert quarantined["source_row"].tolist() == [1, 2, 4]
    assert (
        report.samples["duplicate customer_id in campaign"] == "row 4: B,2024-03-01,c,call,treated"
    )


def test_one_campaign_id_for_two_sends_is_warned_of(tmp_path):
    """ "Newsletter" names a January SMS and an April e-mail: its customers of both sends land in
    both arms or twice; the warning names the campaign, its dates per action and what to do. A
    campaign sent over a week is one send."""
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,2025-01-06,Newsletter,sms,treated\n"
        "B,2025-01-06,Newsletter,,control\nA,2025-04-01,Newsletter,email,treated\n"
        "C,2025-04-01,Newsletter,email,treated\nD,2025-03-01,Spring,call,treated\n"
        "E,2025-03-07,Spring,,control\n",
    )
    _, _, report = validate_campaigns(pd.read_csv(path, dtype=str), path)
    said = [w for w in report.warnings if "one id for several sends" in w]
    assert len(said) == 1, report.warnings
    assert said[0].startswith(
        "campaign 'Newsletter' was sent from 2025-01-06 to 2025-04-01 (control 2025-01-06, "
        "email 2025-04-01, sms 2025-01-06): one id for several sends?"
    )
    assert "give each send its own campaign_id" in said[0]


def test_a_row_of_unknown_arm_is_not_dated_as_the_control_of_a_several_sends_campaign(tmp_path):
    """The several-sends warning dates each arm's sends: a row whose arm is missing or unknown (it
    is quarantined) is not called control."""
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,2025-01-06,N,sms,treated\n"
        "B,2025-01-06,N,,bogus\nC,2025-04-01,N,email,treated\nD,2025-04-01,N,,control\n",
    )
    _, _, report = validate_campaigns(pd.read_csv(path, dtype=str), path)
    (said,) = [w for w in report.warnings if "one id for several sends" in w]
    assert "(control 2025-04-01, email 2025-04-01, sms 2025-01-06, unknown arm 2025-01-06)" in said


def test_a_send_date_typo_set_aside_does_not_make_a_campaign_of_several_sends(tmp_path):
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,2025-01-06,Spring,sms,treated\n"
        "B,2025-01-06,Spring,,control\nC,2099-01-06,Spring,sms,treated\n",
    )
    _, _, report = validate_campaigns(
        pd.read_csv(path, dtype=str), path, latest=pd.Timestamp("2025-12-31")
    )
    assert report.reasons == {"sent_at in the future": 1}, report.reasons
    assert not any("several sends" in w for w in report.warnings), report.warnings


def test_campaign_rows_with_15_character_salesforce_ids_find_their_customers(tmp_path):
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\n001A0000006Vm9r,2025-01-06,c,call,treated\n"
        "0015g00000OhbVrAAJ,2025-01-06,c,,control\n001a0000006Vm9r,2025-01-06,c,call,treated\n",
    )
    accepted, _, report = validate_campaigns(
        pd.read_csv(path, dtype=str), path, known_ids={"001A0000006Vm9rIAC", "0015g00000OhbVrAAJ"}
    )
    assert sorted(accepted["customer_id"]) == ["0015g00000OhbVrAAJ", "001A0000006Vm9rIAC"]
    assert report.reasons == {"unknown customer_id": 1}  # another record's id (case differs)
    assert any("1 Salesforce ids of 15 characters matched" in w for w in report.warnings)


def test_a_one_campaign_export_maps_campaign_action_and_cost_to_one_value(tmp_path):
    """An e-mail tool's export of one send has no campaign or channel column: ``=VALUE`` gives
    every row that value, as for the other tables; ids and send times cannot be one value."""
    path = _export(
        tmp_path,
        "Contact ID,Send Time,Variant\nA,2024-03-01,Variant A\nB,2024-03-01,Holdout\n",
    )
    frame = pd.read_csv(path, dtype=str)
    columns = {"customer_id": "Contact ID", "sent_at": "Send Time", "arm": "Variant"}
    constants = {"campaign_id": "=Winback Jun", "action": "=sms", "cost": "=0,12"}
    accepted, _, report = validate_campaigns(frame, path, columns | constants)
    assert report.quarantined == 0, report.reasons
    rows = accepted.set_index("customer_id")
    assert rows["campaign_id"].tolist() == ["Winback Jun"] * 2
    assert rows["action"].to_dict() == {"A": "sms", "B": "none"}
    assert rows.loc["A", "cost"] == 0.12
    with pytest.raises(IngestError, match="cannot be used here"):
        validate_campaigns(frame, path, columns | {"sent_at": "=2024-03-01"})


def test_a_customer_sent_twice_keeps_the_first_send_whatever_the_file_order(tmp_path):
    """An export not in time order (a resend in October listed before the June send): the June
    send, whose window is the one measured, is kept; the later one is the duplicate."""
    path = _export(
        tmp_path,
        "customer_id,sent_at,campaign_id,action,arm\nA,2024-10-03,c,sms,treated\n"
        "A,2024-06-01,c,sms,treated\nB,2024-06-01,c,,control\n",
    )
    accepted, quarantined, report = validate_campaigns(pd.read_csv(path, dtype=str), path)
    assert report.reasons == {"duplicate customer_id in campaign": 1}
    assert accepted.set_index("customer_id").loc["A", "sent_at"] == pd.Timestamp("2024-06-01")
    assert quarantined["source_row"].tolist() == [1]


def test_the_campaigns_file_takes_its_own_formats_from_a_files_section(tmp_path):
    """A mailing tool writes local send times where the shop writes UTC: a map file's files:
    section naming the campaigns export sets its time zone (it was refused as matching none of
    the files given, and --timezone would have applied to every table)."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, _, camp, out = _ingest_args(
        tmp_path,
        "customer_id,ordered_at,amount\nA,2024-02-01 10:00,10\nB,2024-02-03 10:00,5\n",
        "customer_id,sent_at,campaign_id,action,arm\nA,2024-03-01 01:30,c1,call,treated\n"
        "B,2024-03-01 01:30,c1,,control\n",
    )
    (tmp_path / "map.yaml").write_text(f"files:\n  {camp.name}: {{timezone: Europe/Berlin}}\n")
    result = CliRunner().invoke(app, [*args, "--map-file", str(tmp_path / "map.yaml")])
    assert result.exit_code == 0, result.output
    assert (load_campaigns(out)["sent_at"] == pd.Timestamp("2024-03-01 00:30")).all()
    assert pd.read_parquet(out / "transactions.parquet")["ordered_at"].min() == pd.Timestamp(
        "2024-02-01 10:00"
    )


def test_a_map_file_names_the_arms_a_tool_writes(tmp_path):
    """Braze Currents writes a send as ``users.messages.email.Send`` and a holdout customer as
    ``users.campaigns.EnrollInControl``; a CRM call list says ``Call`` / ``Holdout``. No arm
    word was read from them and nothing could name them: every row was quarantined as an
    unknown arm. ``values: {arm: {...}}`` in the map file now maps them, as for event types."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, _, _, out = _ingest_args(
        tmp_path,
        "customer_id,ordered_at,amount\nA,2024-02-01,10\nB,2024-02-03,5\nC,2024-02-03,5\n",
        "external_user_id,time,campaign_name,event\n"
        "A,1709283600,Winback,users.messages.email.Send\n"
        "B,1709283600,Winback,users.campaigns.EnrollInControl\n"
        "C,1709283600,Winback,users.messages.email.Bounce\n",
    )
    (tmp_path / "map.yaml").write_text(
        "values:\n  campaigns.arm:\n    users.messages.email.Send: treated\n"
        "    Users.Campaigns.EnrollInControl: control\n"
    )
    mapped = "customer_id=external_user_id,sent_at=time,campaign_id=campaign_name,arm=event"
    result = CliRunner().invoke(
        app,
        [*args, "--map-file", str(tmp_path / "map.yaml"), "--min-accepted-share", "0.1"]
        + ["--campaigns-map", f"{mapped},action==discount"],
    )
    assert result.exit_code == 0, result.output
    assert "campaigns: 3 rows read, 2 accepted, 1 quarantined" in result.output
    arms = load_campaigns(out).set_index("customer_id")["arm"]
    assert arms.to_dict() == {"A": "treated", "B": "control"}
    (tmp_path / "bad.yaml").write_text("values:\n  arm:\n    Send: sent\n")
    result = CliRunner().invoke(app, [*args, "--map-file", str(tmp_path / "bad.yaml")])
    assert result.exit_code != 0
    assert "arms must be treated or control" in result.output


def test_an_unknown_arm_says_how_to_name_it(tmp_path):
    path = _export(tmp_path, "customer_id,sent_at,campaign_id,action,arm\nA,2024-03-01,c,x,Call")
    _, quarantined, _ = validate_campaigns(pd.read_csv(path, dtype=str), path)
    assert "values: {arm: {'Call': treated}}" in quarantined["reason"].iloc[0]


#: A map file reading a Braze Currents export and CRM call lists, each by its own section.
TWO_TOOLS_MAP = """
files:
  braze_*.csv:
    columns:
      campaigns.customer_id: external_user_id
      campaigns.sent_at: time
      campaigns.campaign_id: campaign_name
      campaigns.arm: event
      campaigns.action: "=discount"
      campaigns.cost: "=0.05"
    values:
      campaigns.arm: {users.messages.email.Send: treated, users.campaigns.EnrollInControl: control}
  calls_*.csv:
    date_order: dmy
    columns:
      campaigns.customer_id: Account ID
      campaigns.sent_at: Planned Date
      campaigns.campaign_id: Campaign
      campaigns.arm: Group
      campaigns.action: "=call"
      campaigns.cost: Cost
    values:
      campaigns.arm: {Call: treated}
"""
BRAZE = (
    "event,id,external_user_id,time,campaign_name\n"
    "users.messages.email.Send,e1,A,1709283600,Winback\n"
    "users.campaigns.EnrollInControl,e2,B,1709283600,Winback\n"
)
CALLS_WEEK_1 = (
    "Account ID,Group,Planned Date,Campaign,Cost\nC,Call,05/03/2024,AM call,8.00\n"
    "D,Holdout,05/03/2024,AM call,8.00\nB,Call,04/03/2024,AM call,8.00\n"
)
CALLS_WEEK_2 = (
    "Account ID,Group,Planned Date,Campaign,Cost\nC,Call,12/03/2024,AM call,8.00\n"
    "E,Call,12/03/2024,AM call,8.00\nD,Call,11/03/2024,AM call,8.00\n"
)


def _two_tools(tmp_path: Path, files: dict[str, str]) -> tuple[list[str], Path]:
    """``lifecycle ingest`` arguments for orders of customers A..E, the campaigns ``files``
    (name -> text, each given with --campaigns) and :data:`TWO_TOOLS_MAP`; and the output."""
    tx = tmp_path / "tx.csv"
    tx.write_text(
        "customer_id,ordered_at,amount\n" + "".join(f"{c},2024-02-01,10\n" for c in "ABCDE")
    )
    (tmp_path / "map.yaml").write_text(TWO_TOOLS_MAP)
    args = ["ingest", "--transactions", str(tx), "--map-file", str(tmp_path / "map.yaml")]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        args += ["--campaigns", str(tmp_path / name)]
    return [*args, "--out", str(tmp_path / "data")], tmp_path / "data"


def test_several_campaigns_files_are_read_each_by_its_section_and_put_together(tmp_path):
    """A Braze export and a CRM call list, each read by its own files: section (columns, arm
    names, dd/mm dates): the same table as the two merged by hand into one file. The option
    given twice kept the last file only, without a word."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, out = _two_tools(tmp_path, {"braze_winback.csv": BRAZE, "calls_1.csv": CALLS_WEEK_1})
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "campaigns: 5 rows read, 5 accepted, 0 quarantined" in result.output
    merged = tmp_path / "merged" / "campaigns.csv"
    merged.parent.mkdir()
    merged.write_text(
        "customer_id,sent_at,campaign_id,action,arm,cost\n"
        "A,2024-03-01 09:00,Winback,discount,treated,0.05\n"
        "B,2024-03-01 09:00,Winback,,control,0.05\n"
        "C,2024-03-05,AM call,call,treated,8.00\nD,2024-03-05,AM call,,control,8.00\n"
        "B,2024-03-04,AM call,call,treated,8.00\n"
    )
    by_hand = CliRunner().invoke(
        app, [*args[:3], "--out", str(tmp_path / "by_hand"), "--campaigns", str(merged)]
    )
    assert by_hand.exit_code == 0, by_hand.output
    pd.testing.assert_frame_equal(load_campaigns(out), load_campaigns(tmp_path / "by_hand"))


def test_a_send_repeated_or_in_both_arms_across_campaigns_files_is_quarantined(tmp_path):
    """Two weekly call lists: C called in both is one send (the second quarantined as a
    duplicate), D held out in one and called in the other is in both arms; B in the e-mail
    holdout and on the call list is in two campaigns, no conflict. Each quarantined row names
    its file and line; the manifest counts per reason in total, the log per file."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    files = {"braze_winback.csv": BRAZE, "calls_1.csv": CALLS_WEEK_1, "calls_2.csv": CALLS_WEEK_2}
    args, out = _two_tools(tmp_path, files)
    result = CliRunner().invoke(app, [*args, "--min-accepted-share", "0"])
    assert result.exit_code == 0, result.output
    accepted = load_campaigns(out)
    rows = zip(accepted["customer_id"], accepted["campaign_id"], accepted["arm"], strict=True)
    assert sorted(rows) == [
        ("A", "Winback", "treated"),
        ("B", "AM call", "treated"),
        ("B", "Winback", "control"),
        ("C", "AM call", "treated"),
        ("E", "AM call", "treated"),
    ]
    assert accepted.set_index("customer_id").loc["C", "sent_at"] == pd.Timestamp("2024-03-05")
    quarantine = pd.read_parquet(out / "quarantine" / "campaigns.parquet")
    named = quarantine.assign(source_file=quarantine["source_file"].map(lambda f: Path(f).name))
    assert sorted(named[["source_file", "source_row", "reason"]].values.tolist()) == [
        ["calls_1.csv", 3, "customer in both arms of the campaign (treated and control)"],
        ["calls_2.csv", 2, "duplicate customer_id in campaign"],
        ["calls_2.csv", 4, "customer in both arms of the campaign (treated and control)"],
    ]
    report = json.loads((out / "manifest.json").read_text())["tables"]["campaigns"]
    assert (report["rows_read"], report["accepted"], report["quarantined"]) == (8, 5, 3)
    assert report["reasons"] == {
        "customer in both arms of the campaign (treated and control)": 2,
        "duplicate customer_id in campaign": 1,
    }
    assert "campaigns: calls_2.csv: 3 rows read, 1 accepted, 2 quarantined" in result.output
    assert "campaigns: 8 rows read, 5 accepted, 3 quarantined" in result.output


def test_a_bad_file_among_several_campaigns_files_is_named_and_nothing_written(tmp_path):
    """A call list with other columns, or a file that cannot be read, among a quoted pattern's
    files: one error naming that file, and the previous ingest stays whole."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, out = _two_tools(tmp_path, {"braze_winback.csv": BRAZE, "calls_1.csv": CALLS_WEEK_1})
    assert CliRunner().invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "calls_2.csv").write_text("Kunde,Gruppe\nC,Call\n")
    pattern = ["--campaigns", str(tmp_path / "calls_*.csv")]
    result = CliRunner().invoke(app, [*args[:-4], *pattern, *args[-2:]])
    assert result.exit_code != 0
    assert "calls_2.csv" in result.output and "Account ID" in result.output, result.output
    assert "calls_1.csv" not in result.output.replace("calls_1.csv ...", "")
    (tmp_path / "calls_2.csv").write_bytes(b"PK\x03\x04 not a workbook")
    result = CliRunner().invoke(app, [*args[:-4], *pattern, *args[-2:]])
    assert result.exit_code != 0 and "calls_2.csv" in result.output, result.output
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_campaigns_file_is_read_in_the_encoding_its_section_gives(tmp_path):
    """A German CRM's call list saved from Excel (cp1252, ``;``): the error said "pass
    --encoding", but neither --encoding nor the file's section reached the campaigns file."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    calls = (
        "Account ID;Group;Planned Date;Campaign;Cost\nC;Call;05/03/2024;Rückgewinnung;8,00\n"
        "D;Holdout;05/03/2024;Rückgewinnung;8,00\n"
    )
    args, out = _two_tools(tmp_path, {"braze_winback.csv": BRAZE, "calls_1.csv": ""})
    (tmp_path / "calls_1.csv").write_bytes(calls.encode("cp1252"))
    (tmp_path / "map.yaml").write_text(
        TWO_TOOLS_MAP.replace(
            "    date_order: dmy\n", "    date_order: dmy\n    encoding: cp1252\n"
        )
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    campaigns = load_campaigns(out).set_index("customer_id")
    assert campaigns.loc[["C", "D"], "campaign_id"].tolist() == ["Rückgewinnung"] * 2
    assert campaigns.loc["C", "cost"] == 8.0


def test_a_week_without_calls_among_several_call_lists_is_skipped_and_said(tmp_path):
    """A weekly call list of a week nobody was called (the header only), among the others: said
    and skipped, as a week without orders is among transactions exports; alone, an error."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    empty = "Account ID,Group,Planned Date,Campaign,Cost\n"
    files = {"braze_winback.csv": BRAZE, "calls_1.csv": CALLS_WEEK_1, "calls_2.csv": empty}
    args, out = _two_tools(tmp_path, files)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "calls_2.csv: file has a header but no rows" in result.output
    assert "campaigns: 5 rows read, 5 accepted, 0 quarantined" in result.output
    alone = CliRunner().invoke(
        app, [*args[:3], "--out", str(out), "--campaigns", str(tmp_path / "calls_2.csv")]
    )
    assert alone.exit_code != 0 and "no rows" in alone.output, alone.output


def test_a_campaigns_file_given_twice_is_named_as_such(tmp_path):
    """A file named and matched by a pattern too: each of its rows was its own duplicate, and the
    error blamed the rows (0 of 3 accepted, duplicate customer_id) instead of the command."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args, _ = _two_tools(tmp_path, {"braze_winback.csv": BRAZE, "calls_1.csv": CALLS_WEEK_1})
    result = CliRunner().invoke(app, [*args, "--campaigns", str(tmp_path / "calls_*.csv")])
    assert result.exit_code != 0
    assert "calls_1.csv: given twice to --campaigns" in result.output, result.output
