"""A customers file's status says which of its dates are ends (features/customer_status.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import table_path
from features.customer_status import ends_by_status
from features.ingest import ingest
from features.mapping import FileMapping, load_mapping


def dates(*values: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object"))


def test_a_live_customers_status_date_is_no_end():
    status = pd.Series(["Active", "Cancelled", "non_renewing", "Paused", "Churned", "trialing"])
    when = dates("2024-01-05", "2024-02-01", "2025-03-01", "2024-04-01", None, "2024-05-01")
    ended, note, warnings = ends_by_status(status, when, {}, "Status")
    assert ended.isna().tolist() == [True, False, False, True, True, True]
    assert ended[1] == pd.Timestamp("2024-02-01") and ended[2] == pd.Timestamp("2025-03-01")
    assert note == (
        "'Status': ended_at kept for 2 customers whose status is ended; 3 dates of active "
        "customers are no end"
    )
    assert warnings == [
        "1 customers 'Status' says ended have no end date: read as customers (their end is not "
        "known)"
    ]


def test_a_status_neither_known_nor_mapped_keeps_its_date_and_is_named():
    status = pd.Series(["Moved away", "Moved away", "Active", "Dormant"])
    when = dates("2024-01-05", "2024-01-06", "2024-02-01", "2024-03-01")
    ended, _, warnings = ends_by_status(status, when, {"Dormant": "active"}, "Status")
    assert ended.notna().tolist() == [True, True, False, False]
    assert len(warnings) == 1
    assert "1 value(s) read as neither ended nor active: 'Moved away' (2)" in warnings[0]
    assert "values: {customer_status: {'Moved away': ended | active}}" in warnings[0]


def test_a_status_without_an_end_column_says_what_to_map():
    ended, note, warnings = ends_by_status(pd.Series(["已流失", "正常"]), None, {}, "状态")
    assert ended is None and note == "'状态': 1 ended, 1 active"
    assert warnings == [
        "1 customers '状态' says ended, but no end date column is mapped: they are read as "
        "customers; map ended_at to the date they ended"
    ]


def test_no_rows_are_no_ends():
    ended, _, warnings = ends_by_status(pd.Series([], dtype="string"), dates(), {}, "Status")
    assert ended is not None and ended.empty and warnings == []


def test_the_map_file_may_only_say_ended_or_active():
    FileMapping.model_validate({"values": {"customer_status": {"Frozen": "active"}}})
    with pytest.raises(ValueError, match="a customer's status is one of"):
        FileMapping.model_validate({"values": {"customers.customer_status": {"X": "churned"}}})


def _quiet(_msg: str) -> None:
    pass


def _accounts(tmp_path, out: str, customers_csv: str, columns: str) -> dict:
    """Ingest an accounts file (``customers_csv``) beside two bills; the reports."""
    customers = tmp_path / "accounts.csv"
    customers.write_text(customers_csv)
    bills = tmp_path / "bills.csv"
    bills.write_text("Account,Date,Amount\na,2024-01-01,30\nb,2024-01-01,30\n")
    mapping = load_mapping(
        f"customers.customer_id=Account,{columns},"
        "transactions.customer_id=Account,ordered_at=Date,amount=Amount"
    )
    return ingest(tmp_path / out, bills, mapping, customers, log=_quiet)


def test_ingest_keeps_the_status_date_of_those_who_ended_only(tmp_path):
    """A broadband accounts export: one Status Date for every account. Mapped as ended_at alone,
    every active account has ended (warned); with the status mapped, only the closed ones have."""
    rows = [("a", "Active"), ("b", "Closed"), ("c", "Moved out"), ("d", "Active"), ("e", "Frozen")]
    lines = [f"{i},2023-01-0{n + 1},{s},2024-0{n + 1}-15" for n, (i, s) in enumerate(rows)]
    lines += [f"x{n},2023-02-01,Active,2024-06-{n + 1:02d}" for n in range(10)]
    text = "Account,Created,Status,Status Date\n" + "\n".join(lines) + "\n"
    base = "signup_at=Created,ended_at=Status Date"
    alone = _accounts(tmp_path, "alone", text, base)
    said = " ".join(alone["customers"].warnings)
    assert "15 of the 15 customers have an ended_at date" in said
    assert "customer_status (--map customer_status=Status)" in said
    assert pd.read_parquet(table_path(tmp_path / "alone", "customers"))["ended_at"].notna().all()

    report = _accounts(tmp_path, "out", text, base + ",customer_status=Status")["customers"]
    kept = pd.read_parquet(table_path(tmp_path / "out", "customers")).set_index("customer_id")
    assert kept["ended_at"].dropna().index.tolist() == ["b", "c"]
    assert report.formats["customer_status"] == (
        "'Status': ended_at kept for 2 customers whose status is ended; 13 dates of active "
        "customers are no end"
    )
    assert not [w for w in report.warnings if "have an ended_at date" in w]


def test_a_closed_account_whose_address_opens_a_new_one_is_named(tmp_path):
    """A broadband customer who moves house: the old account closes, a new one opens under the
    same e-mail the week after. Both are one customer; the closure reads as churn unless the old
    record names the new one (merged_into). A family member's account opened years later is no
    move."""
    text = (
        "Account,Opened,Closed,Email\n"
        "a,2021-01-05,2024-03-01,ann@example.com\n"
        "A2,2024-03-08,,Ann@Example.com\n"
        "b,2021-01-05,2022-01-01,bo@example.com\n"
        "B2,2024-06-01,,bo@example.com\n"
        "C1,2021-01-05,,cy@example.com\n"
    )
    base = "signup_at=Opened,ended_at=Closed"
    report = _accounts(tmp_path, "out", text, base)
    said = [w for w in report["customers"].warnings if "signed up within 60 days" in w]
    assert said == [
        "1 ended customers share their address in 'Email' with a customer who signed up within "
        "60 days of their end (e.g. 'a' and 'A2'): a move or a new account of the same person? "
        "Each end reads as churn; where it is one person, name the new record in the old one's "
        "customers.merged_into column (its history then continues under the new id)"
    ]
    lines = text.splitlines()
    lines = [lines[0] + ",Moved To"] + [ln + (",A2" if ln[0] == "a" else ",") for ln in lines[1:]]
    report = _accounts(tmp_path, "merged", "\n".join(lines) + "\n", base + ",merged_into=Moved To")
    assert not [w for w in report["customers"].warnings if "signed up within" in w]


def test_subsidiaries_rolled_up_by_parent_id_are_said_to_be_so(tmp_path):
    """Salesforce accounts with ParentId mapped as merged_into: the subsidiaries' deals are the
    group's; the report says they were rolled up, not merged as duplicates."""
    text = "Account,Opened,ParentId\na,2021-01-05,\nb,2021-01-05,a\nc,2022-01-05,a\nd,2021-01-05,\n"
    report = _accounts(tmp_path, "out", text, "signup_at=Opened,merged_into=ParentId")
    assert report["customers"].formats["merged_into"] == (
        "2 accounts rolled up into their parent account: rows of other files naming them are the "
        "parent's"
    )
    assert report["transactions"].accepted == 2  # b's bill is the group's


def test_a_customer_won_back_is_active():
    """'Reactivated', 'Renewing', 'Won back' kept their status date as an end (left out of
    training, scored churned) for want of a synonym."""
    status = pd.Series(["Reactivated", "Renewing", "Won back", "re-activated"])
    ended, _, warnings = ends_by_status(status, dates(*["2024-01-05"] * 4), {}, "Status")
    assert ended.isna().all() and warnings == []


def test_a_mobile_operators_number_statuses_are_known():
    """An operator's number list (`PORT_OUT`, `SIM_SWAP`, `DISCONNECTED`, `ACTIVE`, one
    `STATUS_DATE` per number): 72 port-outs were named as unknown ends and 70 SIM swaps, whose
    date is the day of the new SIM, were ends of subscribers who stay (of 800)."""
    status = pd.Series(["PORT_OUT", "SIM_SWAP", "DISCONNECTED", "ACTIVE", "Ported out"])
    when = dates("2024-01-05", "2024-02-01", "2024-03-01", "2023-04-01", "2024-05-01")
    ended, _, warnings = ends_by_status(status, when, {}, "STATUS")
    assert ended.notna().tolist() == [True, False, True, False, True]
    assert warnings == []


def test_generic_end_words_are_ends_and_inactive_is_a_customer_still():
    """A CRM's accounts list: 'Account Closed' (an events file's end word) was named as an
    unknown status, its date kept; 'Inactive' (no purchase lately: a recency flag) was an end,
    64 of 400 live customers left out of training and scored churned."""
    status = pd.Series(
        ["Active", "Ended", "Account Closed", "Closed", "Cancelled", "Churned", "Inactive"]
        + ["Inactive", "Dormant", "Subscription Cancelled"]
    )
    ended, note, warnings = ends_by_status(status, dates(*["2024-05-01"] * 10), {}, "Status")
    assert ended.notna().tolist() == [
        False,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        True,
    ]
    assert note == (
        "'Status': ended_at kept for 6 customers whose status is ended; 4 dates of active "
        "customers are no end"
    )
    assert warnings == [
        "'Status': 'Inactive' (2), 'Dormant' (1) read as active (a word of recency: not bought "
        "lately, still a customer), their dates no end; if one means the customer left, say so "
        "in the map file: values: {customer_status: {'Inactive': ended}}"
    ]
    mapped, _, warnings = ends_by_status(
        status, dates(*["2024-05-01"] * 10), {"Inactive": "ended"}, "Status"
    )
    assert mapped.notna().sum() == 8 and warnings == [
        "'Status': 'Dormant' (1) read as active (a word of recency: not bought lately, still a "
        "customer), their dates no end; if one means the customer left, say so in the map file: "
        "values: {customer_status: {'Dormant': ended}}"
    ]


def test_an_unread_status_saying_customers_ended_is_named(tmp_path):
    """An accounts list whose Status says who left, not mapped: the 3 closed and churned accounts
    were read as customers without a word (their dates unread). A blank column is no date."""
    text = (
        "Account,Created,Notes,Status,Status Date\n"
        "a,2023-01-01,,Active,2023-01-01\nb,2023-01-01,,Account Closed,2024-02-01\n"
        "c,2023-01-01,,Churned,2024-03-01\nd,2023-01-01,,Inactive,2024-04-01\n"
        "e,2023-01-01,,Closed,2024-05-01\n"
    )
    report = _accounts(tmp_path, "out", text, "signup_at=Created")["customers"]
    assert [w for w in report.warnings if "not read" in w] == [
        "column 'Status', not read, says 3 customers ended ('Account Closed' x 1, 'Churned' x 1, "
        "'Closed' x 1): this file gives them no end; map it with --map "
        '"customers.customer_status=Status" and the date they ended as customers.ended_at '
        "('Status Date' if it is: a date is then an end only where the status says so)"
    ]
    quiet = text.replace("Account Closed", "Active").replace("Churned", "Active")
    quiet = quiet.replace("Closed", "Inactive")
    report = _accounts(tmp_path, "quiet", quiet, "signup_at=Created")["customers"]
    assert not [w for w in report.warnings if "not read" in w]
    undated = "\n".join(line.rsplit(",", 1)[0] for line in text.splitlines()) + "\n"
    report = _accounts(tmp_path, "undated", undated, "signup_at=Created")["customers"]
    assert [w for w in report.warnings if "not read" in w][0].endswith(
        "customers.ended_at (the export holds no date of it: export the day each customer ended, "
        "a Closed Date or a Status Date)"
    )
