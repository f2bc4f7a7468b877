"""The corpus of real-world export shapes (tests/data/exports): each case's expected counts,
reasons, formats and event-type mapping (table-driven from its expected.yaml), and the CLI on
them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.contract import quarantine_path, table_path
from features.ingest import ingest
from features.mapping import IngestError, load_mapping

EXPORTS = Path(__file__).parent / "data" / "exports"
CASES = sorted(p.name for p in EXPORTS.iterdir() if (p / "expected.yaml").exists())
LIFECYCLE = [sys.executable, "-c", "from lifecycle_cli import app; app()"]
ROOT = Path(__file__).parent.parent


def _quiet(_msg: str) -> None:
    pass


def _case(name: str) -> tuple[Path, dict]:
    folder = EXPORTS / name
    return folder, yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))


def _run(folder: Path, expected: dict, out: Path, *, mapping=None, options=None, **formats):
    """Ingest a case's files with its ``map.yaml`` (or ``mapping``); ``options`` go to ``ingest``
    (``strict_values``, ``dry_run``), ``formats`` to ``load_mapping``."""
    files = {  # a table of several files (tools) is a list
        k: [folder / f for f in v] if isinstance(v, list) else folder / v
        for k, v in expected["files"].items()
    }
    mapping = mapping or load_mapping(None, folder / "map.yaml", **formats)
    return ingest(
        out,
        files["transactions"],
        mapping,
        customers=files.get("customers"),
        events=files.get("events"),
        log=_quiet,
        **(options or {}),
    )


def _check(expected: dict, reports: dict, out: Path, label: str) -> None:
    for table, want in expected["tables"].items():
        r = reports[table]
        assert (r.rows_read, r.accepted) == (want["read"], want["accepted"]), (label, table)
        assert r.reasons == want["quarantined"], (label, table)
        assert r.accepted + r.quarantined == r.rows_read
        written = pd.read_parquet(table_path(out, table))
        derived = sum(r.derived_events.values())  # a rated ticket's survey: no row read
        assert len(written) == r.accepted + derived, (label, table)
        quarantined = pd.read_parquet(quarantine_path(out, table))
        assert quarantined["reason"].value_counts().to_dict() == want["quarantined"], (label, table)
        if "amount_sum" in want:
            assert written["amount"].sum() == pytest.approx(want["amount_sum"], abs=1e-6), label
        if "negative_amounts" in want:
            assert int((written["amount"] < 0).sum()) == want["negative_amounts"], label
        if "first_ordered_at" in want:
            assert written["ordered_at"].min() == pd.Timestamp(want["first_ordered_at"]), label
        if "currencies" in want:
            assert r.currencies == want["currencies"], label
        if "event_types" in want:
            assert r.event_types == want["event_types"], label
            assert written["event_type"].value_counts().to_dict() == {
                k: v + r.derived_events.get(k, 0)
                for k, v in want["event_types"].items()
                if v + r.derived_events.get(k, 0)
            }, label
        for key, text in want.get("formats", {}).items():
            assert text in r.formats[key], (label, table, key, r.formats[key])
    customers = pd.read_parquet(table_path(out, "customers"))
    assert len(customers) == expected["customers"] and customers["customer_id"].is_unique, label
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {t: m["accepted"] for t, m in manifest["tables"].items()} == {
        t: r.accepted for t, r in reports.items()
    }


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(name, tmp_path):
    folder, expected = _case(name)
    if "error" in expected:
        with pytest.raises(IngestError) as err:
            _run(folder, expected, tmp_path / "out")
        message = str(err.value)
        assert expected["error"] in message and "\n" not in message
        assert str(folder / expected["files"]["transactions"]) in message
        assert not (tmp_path / "out").exists()
        expected = {**expected, **expected["with_options"]}
        reports = _run(folder, expected, tmp_path / "out", encoding=expected["encoding"])
    else:
        reports = _run(folder, expected, tmp_path / "out")
    _check(expected, reports, tmp_path / "out", name)
    mapping = expected.get("event_mapping")
    if mapping:
        got = {m["source"]: m["target"] for m in reports["events"].value_mapping}
        assert got == mapping
        assert {u["source"] for u in reports["events"].unmapped} == {
            k for k, v in mapping.items() if v is None
        }


def test_corpus_covers_the_export_kinds():
    assert {
        "salesforce",
        "hubspot",
        "zoho",
        "fxiaoke",
        "fxiaoke_xlsx",
        "shopify",
        "excel_de",
        "invoice_returns",
        "truncated",
        "latin1",
        "klaviyo",
    } <= set(CASES)
    raw = (EXPORTS / "fxiaoke" / "销售订单.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "订单金额（元）" in raw.decode("gbk")
    assert (EXPORTS / "excel_de" / "Bestellungen.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not (EXPORTS / "truncated" / "transactions.csv").read_bytes().endswith(b"\n")


def test_quarantine_rows_keep_source_text_line_and_reason(tmp_path):
    folder, expected = _case("invoice_returns")
    _run(folder, expected, tmp_path)
    q = pd.read_parquet(quarantine_path(tmp_path, "transactions")).set_index("reason")
    assert q.loc["field count differs from header", "source_line"] == 11
    assert q.loc["amount is not a number", "Line Total"] == "see notes"
    assert q.loc["unparsable ordered_at", "Invoice Date"] == "2024-02-30"


def test_truncated_last_line_is_never_accepted_as_a_shorter_number(tmp_path):
    folder, expected = _case("truncated")
    reports = _run(folder, expected, tmp_path)
    tx = pd.read_parquet(table_path(tmp_path, "transactions"))
    assert 19.0 not in set(tx["amount"])
    assert reports["transactions"].samples["truncated last line"] == "line 6: 1004,2024-03-08,19"


def test_values_section_maps_what_the_builtin_normaliser_does_not(tmp_path):
    folder, expected = _case("hubspot")
    (tmp_path / "map.yaml").write_text(
        (folder / "map.yaml").read_text(encoding="utf-8")
        + '  event_type: {"Suport Ticket": support_ticket, Call: support_ticket}\n',
        encoding="utf-8",
    )
    mapping = load_mapping(None, tmp_path / "map.yaml")
    reports = _run(folder, expected, tmp_path / "out", mapping=mapping)
    ev = reports["events"]
    assert ev.event_types["support_ticket"] == 3 and ev.event_types["other"] == 0
    assert ev.unmapped == []  # Email Sent: a rep's send, set aside as no customer action
    how = {m["source"]: m["how"] for m in ev.value_mapping}
    assert how["Suport Ticket"] == "values:" and how["Login"] == "built-in"
    assert how["Email Sent"] == "built-in"


def test_strict_values_quarantines_unmapped_event_types(tmp_path):
    folder, expected = _case("hubspot")
    reports = _run(folder, expected, tmp_path, options={"strict_values": True})
    ev = reports["events"]
    assert ev.reasons == {
        "unmapped event_type": 2,
        "not a customer action (sent, delivered or bounced)": 1,
        "unknown customer_id": 1,
    }
    assert ev.accepted == 9 and ev.event_types["other"] == 0
    q = pd.read_parquet(quarantine_path(tmp_path, "events"))
    assert set(q.loc[q["reason"] == "unmapped event_type", "Activity type"]) == {
        "Call",
        "Suport Ticket",
    }
    call = next(u["hint"] for u in ev.unmapped if u["source"] == "Call")
    assert "quarantined" in call and "kept as other" not in call  # as --strict-values did


def test_unmapped_values_get_a_hint(tmp_path):
    folder, expected = _case("hubspot")
    reports = _run(folder, expected, tmp_path)
    hints = {u["source"]: u["hint"] for u in reports["events"].unmapped}
    assert "support_ticket" in hints["Suport Ticket"] and "values:" in hints["Suport Ticket"]
    assert "kept as other" in hints["Call"] and "email_open" not in hints["Call"]
    assert "Email Sent" not in hints  # a send is no customer action: set aside, not 'other'


def test_gbk_export_forced_encodings(tmp_path):
    folder, expected = _case("fxiaoke")
    reports = _run(folder, expected, tmp_path / "gbk", encoding="gbk")
    assert (
        reports["transactions"].accepted == 6
        and reports["transactions"].formats["encoding"] == "gbk"
    )
    with pytest.raises(IngestError, match=r"销售订单\.csv|客户\.csv") as err:
        _run(folder, expected, tmp_path / "utf8", encoding="utf-8")
    assert "--encoding" in str(err.value) and "not valid utf-8" in str(err.value)


def test_wrong_forced_decimal_fails_the_accepted_share_and_keeps_previous_output(tmp_path):
    folder, expected = _case("excel_de")
    out = tmp_path / "out"
    _run(folder, expected, out)
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(IngestError) as err:
        _run(folder, expected, out, decimal=".")
    message = str(err.value)
    assert "only 1 of 8 rows accepted" in message and "--min-accepted-share" in message
    assert (
        "amount is not a number: 6 rows, e.g. line 2: 10001;05.03.2024;1.234,56;3;Bücher" in message
    )
    assert (out / "manifest.json").read_bytes() == before


def test_ambiguous_day_month_order_is_reported_and_can_be_forced(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("id,date,amount\nA,01/02/2024,5\nB,03/04/2024,7\n")
    logs: list[str] = []
    mapping = load_mapping("customer_id=id,ordered_at=date")
    reports = ingest(tmp_path / "a", path, mapping, log=logs.append)
    assert any("fit both dd/mm/yyyy and mm/dd/yyyy" in m and "--date-order" in m for m in logs)
    tx = pd.read_parquet(table_path(tmp_path / "a", "transactions"))
    assert tx["ordered_at"].min() == pd.Timestamp("2024-01-02")
    assert reports["transactions"].warnings
    ingest(
        tmp_path / "b",
        path,
        load_mapping("customer_id=id,ordered_at=date", date_order="dmy"),
        log=_quiet,
    )
    assert pd.read_parquet(table_path(tmp_path / "b", "transactions"))[
        "ordered_at"
    ].min() == pd.Timestamp("2024-02-01")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LIFECYCLE, "ingest", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_cli_end_to_end_excel_semicolon_decimal_comma_with_quoted_map_name(tmp_path):
    folder = EXPORTS / "excel_de"
    result = _cli(
        "--transactions",
        str(folder / "Bestellungen.csv"),
        "--out",
        str(tmp_path / "de"),
        "--map",
        'customer_id=Kundennr.,ordered_at=Bestelldatum,amount="Umsatz (EUR, netto)",quantity=Menge',
    )
    assert result.returncode == 0, result.stderr
    assert "8 rows read, 6 accepted, 2 quarantined" in result.stdout
    assert "separator semicolon (detected)" in result.stderr and "decimal ','" in result.stderr
    assert "dd/mm/yyyy" in result.stderr


def test_cli_end_to_end_hubspot_lists_values_that_landed_in_other(tmp_path):
    folder = EXPORTS / "hubspot"
    result = _cli(
        "--transactions",
        str(folder / "deals.csv"),
        "--customers",
        str(folder / "contacts.csv"),
        "--events",
        str(folder / "activities.csv"),
        "--map-file",
        str(folder / "map.yaml"),
        "--out",
        str(tmp_path / "hs"),
    )
    assert result.returncode == 0, result.stderr
    assert (
        "events: event_type: visit 2, login 1, email_open 2, email_click 0, support_ticket 1, "
        "complaint 1, "
        "survey 2, other 2" in result.stderr
    )
    assert "'Suport Ticket' x 1: looks like 'support ticket' (support_ticket)" in result.stderr
    assert "28 rows read, 22 accepted, 6 quarantined" in result.stdout


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\x1f\x8b\x08\x00" + bytes(range(256)), "gzip-compressed file that does not decompress"),
        (
            b"PK\x03\x04" + bytes(40),
            "not a whole ZIP archive (File is not a zip file): a cut download? fetch the export "
            "again",
        ),
        (b"id,date,amount\n\x00\x01\x02\x03\xff\xfe\n", "binary data"),
        ("Kunde,Datum,Betrag\nMüller,2024-03-01,12\n".encode("latin-1"), "--encoding"),
        (b"", "file is empty"),
        (b"id,date,amount\n", "no rows"),
    ],
)
def test_cli_unreadable_input_is_one_line_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    result = _cli("--transactions", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and str(path) in lines[-1] and expected in lines[-1]
    assert "Traceback" not in result.stderr and not any(
        line.startswith("error") for line in lines[:-1]
    )
    assert not (tmp_path / "out").exists()


def test_cli_missing_input_is_one_line(tmp_path):
    result = _cli("--transactions", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"error: {tmp_path / 'nope.csv'}: file does not exist"
    )


def test_cli_below_min_accepted_share_exits_non_zero_with_reasons_and_samples(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("id;datum;betrag\nA;05.03.2024;12 Euro\nB;06.03.2024;7 Euro\nC;07.03.2024;9\n")
    result = _cli(
        "--transactions",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "--map",
        "customer_id=id,ordered_at=datum,amount=betrag",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "only 1 of 3 rows accepted (33.3%)" in result.stderr
    assert "amount is not a number: 2 rows, e.g. line 2: A;05.03.2024;12 Euro" in result.stderr
    assert not (tmp_path / "out").exists()
    ok = _cli(
        "--transactions",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "--min-accepted-share",
        "0.3",
        "--map",
        "customer_id=id,ordered_at=datum,amount=betrag",
    )
    assert ok.returncode == 0 and "1 accepted, 2 quarantined" in ok.stdout


def test_dry_run_reports_the_same_counts_and_writes_nothing(tmp_path):
    folder, expected = _case("hubspot")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "notes.txt").write_text("a dry run does not care")
    reports = _run(folder, expected, out, options={"dry_run": True})
    assert {t: (r.rows_read, r.accepted) for t, r in reports.items()} == {
        t: (w["read"], w["accepted"]) for t, w in expected["tables"].items()
    }
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_latin_1_portuguese_is_not_taken_for_chinese(tmp_path):
    """``ção`` in Latin-1 is two bytes that also make one GB2312 character: "Conceição" was read
    as "Concei玢o" (detected gb18030, exit 0). Chinese characters inside Latin words mean the
    file is not GBK: the one-line encoding error, then --encoding reads it."""
    from features.csv_source import read_source

    path = tmp_path / "clientes.csv"
    names = ["Conceição", "Assunção", "Anunciação", "Encarnação"]
    text = "customer_id,region\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names))
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(IngestError, match=r"clientes\.csv: not UTF-8 text .*--encoding"):
        read_source(path)
    assert read_source(path, encoding="latin-1").frame["region"].tolist() == names
    chinese = tmp_path / "客户.csv"  # Chinese next to Latin letters is still Chinese
    chinese.write_bytes("编号,产品\n1,iPhone手机壳\n2,T恤\n3,A型号\n".encode("gbk"))
    assert read_source(chinese).frame["产品"].tolist() == ["iPhone手机壳", "T恤", "A型号"]


def test_a_japanese_cp932_export_is_detected_and_named_in_the_hint(tmp_path):
    """A Rakuten/Makeshop order file in CP932 was refused as "not UTF-8" with a hint naming
    cp1252, latin-1 and gbk, never cp932. Kana tell Japanese from Chinese, which stays GBK."""
    from features.csv_source import read_source

    rakuten = tmp_path / "rakuten_orders.csv"
    rakuten.write_bytes(
        "受注番号,注文日時,合計金額,注文ステータス\n"
        'O1,2025/01/01 03:59:58,"￥10,335",発送済み\nO2,2025/01/02 07:39:08,"￥3,686",キャンセル\n'
        "".encode("cp932")
    )
    source = read_source(rakuten)
    assert source.encoding == "cp932 (detected)"
    assert source.frame["注文ステータス"].tolist() == ["発送済み", "キャンセル"]
    kanji_only = tmp_path / "kaiin.csv"  # no kana: told by its kanji of JIS level 1
    kanji_only.write_bytes("会員番号,都道府県\n1,東京都\n2,大阪府\n".encode("cp932"))
    assert read_source(kanji_only).frame["都道府県"].tolist() == ["東京都", "大阪府"]
    chinese = tmp_path / "客户.csv"
    chinese.write_bytes("编号,状态\n1,已完成\n2,已取消\n".encode("gbk"))
    assert read_source(chinese).encoding == "gb18030 (detected)"


def test_a_thai_pos_export_in_cp874_with_buddhist_era_dates_reads_as_its_sales(tmp_path):
    """A Thai POS's CSV (CP874, Thai headers, ``03/06/2567 19:45`` Buddhist-era dates, ``฿``
    amounts) was refused: "not UTF-8" with a hint naming no Thai encoding, and with
    --encoding cp874 every row "ordered_at in the future" (2567 read as a year of ours)."""
    from features.csv_source import read_source

    pos = tmp_path / "pos_th.csv"
    pos.write_bytes(
        "เลขที่บิล,วันที่,ลูกค้า,ยอดรวม,สถานะ\n"
        "B1,03/06/2567 19:45,สมชาย ใจดี,฿700.53,สำเร็จแล้ว\n"
        'B2,29/02/2567 10:00,สมหญิง รักไทย,"฿1,200.00",ยกเลิก\n'
        "B3,3 มิ.ย. 2567,วิไลวรรณ ศรีสุข,฿55.00,สำเร็จ\n"
        "B4,15/01/2568 09:30,สมชาย ใจดี,฿80.00,สำเร็จแล้ว\n".encode("cp874")
    )
    assert read_source(pos).encoding == "cp874 (detected)"
    lines: list[str] = []
    mapping = load_mapping(
        "order_id=เลขที่บิล,ordered_at=วันที่,customer_id=ลูกค้า,amount=ยอดรวม,status=สถานะ"
    )
    ingest(tmp_path / "out", transactions=pos, mapping=mapping, log=lines.append)
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions")).sort_values("order_id")
    assert tx["ordered_at"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-06-03 19:45",
        "2024-06-03 00:00",
        "2025-01-15 09:30",
    ]
    assert tx["amount"].tolist() == [700.53, 55.0, 80.0]  # B2 cancelled
    said = "\n".join(lines)
    assert "Buddhist-era years read as the Common Era (2567 = 2024)" in said
    assert "THB" in said


@pytest.mark.parametrize(
    "text",
    [
        "STATUT;VILLE\nLIVRÉE;CRÉTEIL\nANNULÉE;ORLÉANS\nLIVRÉE;FRANÇOIS\n",  # ÉÇ: ษว
        "A1_NOME;A1_MUN\nJOÃO DA SILVA;SÃO PAULO\nCONCEIÇÃO;MARINGÁ\n",  # a Protheus export
        'Order,Total\n1001,£12.50\n1002,"£1,234.00"\n',  # ฃ12.50
    ],
)
def test_upper_case_cp1252_is_not_taken_for_thai(tmp_path, text):
    """Western capitals and the pound read as CP874 are Thai letters without a vowel (``É`` is
    ษ, ``Ç`` ว, ``£`` ฃ): an upper-case French export was detected as Thai, its ``ANNULÉE``
    orders read as completed sales. Refused as not UTF-8, as before Thai was detected."""
    from features.csv_source import read_source

    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(IngestError, match=r"export\.csv: not UTF-8 text .*--encoding cp1252"):
        read_source(path)


def test_buddhist_years_are_read_only_where_they_are_the_column_s_years():
    """Review: Postgres' trimmed fractions of a second (``14:02:03.2489``) were taken for
    Buddhist years, and a Common-Era column's typo ``2502-03-07`` was read as 1959 instead of
    being a date in the future."""
    from features.dates import detect_order, parse_dates

    postgres = pd.Series(["2024-03-05 14:02:03.2489", "2024-03-06 10:00:01.1946"])
    stamps, said = parse_dates(postgres, detect_order([postgres], None, False))
    assert "Buddhist" not in said and stamps.dt.year.tolist() == [2024, 2024]
    typo = pd.Series(["2024-03-07", "2502-03-07", "2024-03-08"])
    stamps, said = parse_dates(typo, detect_order([typo], None, False))
    assert "Buddhist" not in said and stamps.dt.year.tolist() == [2024, 2502, 2024]


def test_a_byte_order_mark_wins_over_the_encoding_given_for_the_other_files(tmp_path):
    """--encoding cp1252, meant for a Brazilian shop's orders file, garbled its customers file
    written as UTF-8 with a BOM ('ï»¿NÂ° client'): a file that says it is Unicode is read so."""
    from features.csv_source import read_source

    customers = tmp_path / "clientes.csv"
    customers.write_bytes("N° client;Nome\n1;João\n".encode("utf-8-sig"))
    source = read_source(customers, encoding="cp1252")
    assert list(source.frame.columns) == ["N° client", "Nome"]
    assert source.frame["Nome"].tolist() == ["João"]
    assert source.encoding == "utf-8-sig (its byte order mark; not --encoding cp1252)"
    wide = tmp_path / "wide.csv"
    wide.write_bytes("Nome;Valor\nJoão;1\n".encode("utf-16"))
    assert read_source(wide, encoding="latin-1").frame["Nome"].tolist() == ["João"]
    assert read_source(customers, encoding="utf-8").encoding == "utf-8"  # what was asked
    orders = tmp_path / "pedidos.csv"
    orders.write_bytes("Cliente;Valor\nJoão;1,50\n".encode("cp1252"))
    assert read_source(orders, encoding="cp1252").frame["Cliente"].tolist() == ["João"]
