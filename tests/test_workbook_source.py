"""Workbook exports (.xlsx and the other formats python-calamine reads) read as the text a CSV
export of them holds; the fxiaoke_xlsx corpus case runs the whole ingest on one."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import xlsxwriter

from features.csv_source import read_source
from features.mapping import IngestError
from features.source_file import EmptyExport

LIFECYCLE = [sys.executable, "-c", "from lifecycle_cli import app; app()"]


def workbook(path: Path, sheets: dict[str, list[tuple[int, int, object]]]) -> Path:
    """Write cells (row, column, value), 0-based, typed as given, one sheet per key."""
    wb = xlsxwriter.Workbook(path)
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, cells in sheets.items():
        sheet = wb.add_worksheet(name)
        for r, c, value in cells:
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), stamp)
            else:
                sheet.write(r, c, value)
    wb.close()
    return path


def row(r: int, values: list, c0: int = 0) -> list[tuple[int, int, object]]:
    return [(r, c0 + i, v) for i, v in enumerate(values) if v is not None]


def test_typed_cells_read_as_the_text_of_a_csv_export(tmp_path):
    cells = row(0, ["customer_id", "ordered_at", "amount", "paid"])
    cells += row(1, [1001, datetime(2025, 3, 4, 13, 5, 7), 12.3, True])
    cells += row(2, ["00124", date(2025, 3, 5), 0.00001, False])
    cells += row(3, [123456789012, "2025-03-06", 1e16, None])
    source = read_source(workbook(tmp_path / "orders.xlsx", {"Orders": cells}))
    frame = source.frame
    # an id typed as a number is not 1001.0; text ids keep their zeros; no exponents
    assert frame["customer_id"].tolist() == ["1001", "00124", "123456789012"]
    assert frame["ordered_at"].tolist() == ["2025-03-04 13:05:07", "2025-03-05", "2025-03-06"]
    assert frame["amount"].tolist() == ["12.3", "0.00001", "10000000000000000"]
    assert frame["paid"].tolist()[:2] == ["true", "false"] and pd.isna(frame["paid"][2])
    assert all(str(t) == "string" for t in frame.dtypes)
    assert source.kind == "workbook" and source.notes == ["sheet 'Orders'"]


def test_rows_are_numbered_as_the_sheet_shows_them_and_empty_rows_skipped(tmp_path):
    # the table starts at B3; row 5 is empty; a value typed beside the table (F6) has no header
    cells = row(2, ["customer_id", "amount"], c0=1) + row(3, ["a", 1], c0=1)
    cells += row(5, ["b", 2], c0=1) + [(5, 5, "note")] + row(6, ["c", 3], c0=1)
    source = read_source(workbook(tmp_path / "t.xlsx", {"S": cells}))
    assert source.frame["customer_id"].tolist() == ["a", "b", "c"]
    assert source.lines.tolist() == [4, 6, 7]
    assert source.problems.tolist() == [
        None,
        "a value in a column without a header (column F)",
        None,
    ]


def test_the_sheet_is_chosen_by_name_else_the_first_that_holds_anything(tmp_path):
    path = workbook(
        tmp_path / "book.xlsx",
        {
            "Cover": [],
            "Orders": row(0, ["customer_id"]) + row(1, ["a"]),
            "Returns": row(0, ["customer_id"]) + row(1, ["b"]) + row(2, ["c"]),
        },
    )
    first = read_source(path)
    assert first.frame["customer_id"].tolist() == ["a"]
    assert first.notes == [
        "sheet 'Orders' (not read: 'Cover', 'Returns'; --sheet or the mapping's sheet: picks "
        "another)"
    ]
    assert read_source(path, sheet="Returns").frame["customer_id"].tolist() == ["b", "c"]
    with pytest.raises(IngestError, match=r"no sheet 'Orderz' \(sheets: 'Cover', 'Orders'"):
        read_source(path, sheet="Orderz")
    with pytest.raises(EmptyExport, match="sheet 'Cover' is empty"):
        read_source(path, sheet="Cover")
    header_only = workbook(tmp_path / "h.xlsx", {"S": row(0, ["customer_id", "amount"])})
    with pytest.raises(EmptyExport, match="has a header but no rows"):
        read_source(header_only)


def test_a_broken_workbook_is_one_line_and_headers_read_as_in_a_csv(tmp_path):
    broken = tmp_path / "orders.xlsx"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(IngestError, match="orders.xlsx: not a readable workbook"):
        read_source(broken)
    # a repeated name is name, name.1 (taken only when mapped), texts stripped, as in a CSV
    cells = row(0, ["id", "note", "note"]) + row(1, [1, " a ", "   "])
    twice = read_source(workbook(tmp_path / "twice.xlsx", {"S": cells}))
    as_csv = tmp_path / "twice.csv"
    as_csv.write_text("id,note,note\n1, a ,   \n")
    csv = read_source(as_csv)
    pd.testing.assert_frame_equal(twice.frame, csv.frame)
    assert twice.frame.attrs == csv.frame.attrs == {"repeated_header_names": ["note"]}


def test_cli_ingests_a_workbook_sheet_with_quarantine_rows_named_by_sheet_row(tmp_path):
    cells = row(0, ["Kunde", "Datum", "Betrag"])
    cells += row(1, ["k1", date(2024, 3, 1), 12.5]) + row(2, ["k2", date(2024, 3, 2), "n/a"])
    path = workbook(tmp_path / "orders.xlsx", {"Info": row(0, ["exported"]), "Orders": cells})
    out = tmp_path / "out"
    args = ["ingest", "--transactions", str(path), "--out", str(out), "--sheet", "Orders"]
    args += ["--map", "customer_id=Kunde,ordered_at=Datum,amount=Betrag"]
    args += ["--min-accepted-share", "0"]
    done = subprocess.run([*LIFECYCLE, *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "transactions: 2 rows read (workbook, sheet 'Orders' (not read: 'Info'" in done.stderr
    assert "[amount is not a number: 1]" in done.stderr
    written = pd.read_parquet(out / "transactions.parquet")
    assert written["amount"].tolist() == [12.5]
    assert written["ordered_at"].tolist() == [pd.Timestamp("2024-03-01")]
    quarantined = pd.read_parquet(out / "quarantine" / "transactions.parquet")
    assert quarantined["source_line"].tolist() == [3]  # row 3 of the sheet, as Excel shows it


def test_a_title_above_the_header_is_skipped_as_in_a_csv_export(tmp_path):
    # Chinese CRM exports: a title (客户列表) merged across the top, an "exported at" line, then
    # the header; read as the header, every row was quarantined and no mapped column found
    wb = xlsxwriter.Workbook(tmp_path / "客户.xlsx")
    sheet = wb.add_worksheet("客户列表")
    sheet.merge_range(0, 0, 0, 2, "客户列表")
    sheet.write(1, 0, "导出时间: 2024-03-05 10:00")
    sheet.write_row(3, 0, ["客户编号", "下单日期", "订单金额"])
    sheet.write_row(4, 0, ["C1", "2024-03-01", 100])
    wb.close()
    source = read_source(tmp_path / "客户.xlsx")
    assert source.frame.columns.tolist() == ["客户编号", "下单日期", "订单金额"]
    assert source.frame["客户编号"].tolist() == ["C1"] and source.lines.tolist() == [5]
    assert source.problems.tolist() == [None]
    assert source.notes[1] == (
        "title skipped (2 single-value rows above the header in row 4, such as '客户列表')"
    )


def test_a_hidden_sheet_is_not_read_by_default(tmp_path):
    wb = xlsxwriter.Workbook(tmp_path / "book.xlsx")
    lookup = wb.add_worksheet("lookup")
    lookup.write_row(0, 0, ["code", "name"])
    lookup.write_row(1, 0, ["A", "x"])
    lookup.hide()
    orders = wb.add_worksheet("Orders")
    orders.write_row(0, 0, ["customer_id"])
    orders.write_row(1, 0, ["c1"])
    orders.activate()
    wb.close()
    source = read_source(tmp_path / "book.xlsx")
    assert source.frame["customer_id"].tolist() == ["c1"]
    assert source.notes == [
        "sheet 'Orders' (not read: 'lookup' (hidden); --sheet or the mapping's sheet: picks "
        "another)"
    ]
    assert read_source(tmp_path / "book.xlsx", sheet="lookup").frame["code"].tolist() == ["A"]


def test_a_text_file_named_xls_is_read_as_text_and_a_renamed_xlsx_as_a_workbook(tmp_path):
    # "Export to Excel" buttons often write tab-separated text named .xls (read before
    # workbooks were); an .xlsx renamed .xls is read by its content
    (tmp_path / "export.xls").write_text("customer_id\tamount\nc1\t12.5\n", encoding="utf-8")
    text = read_source(tmp_path / "export.xls")
    assert text.kind == "csv" and text.frame["amount"].tolist() == ["12.5"]
    book = workbook(tmp_path / "real.xlsx", {"S": row(0, ["customer_id"]) + row(1, ["c1"])})
    renamed = tmp_path / "renamed.xls"
    renamed.write_bytes(book.read_bytes())
    assert read_source(renamed).frame["customer_id"].tolist() == ["c1"]


def test_numbers_longer_than_excel_keeps_are_warned_of(tmp_path):
    """An id typed as a number past 15 digits is stored rounded by Excel: the ingest reads what
    the file holds and says that its last digits are lost."""
    cells = row(0, ["Customer ID", "amount"])
    cells += (
        row(1, [123456789012345678, 5]) + row(2, [12345, 6]) + row(3, ["123456789012345678", 7])
    )
    source = read_source(workbook(tmp_path / "ids.xlsx", {"S": cells}))
    assert source.frame["Customer ID"].tolist() == [
        "123456789012345700",  # what the file stores (15 digits): the last ones are gone
        "12345",
        "123456789012345678",  # typed as text: kept
    ]
    assert len(source.warnings) == 1
    assert source.warnings[0].startswith("column 'Customer ID': 1 numbers of more than 15 digits")
    assert "export the column as text" in source.warnings[0]


def test_a_totals_row_below_the_data_is_skipped_as_in_a_csv_export(tmp_path):
    # an Excel copy of a shop's orders with "Summe" and =SUM(...) under the last order: the CSV
    # export's totals line was skipped, the workbook's row was read as an order (quarantined as
    # "missing ordered_at" holding the whole file's revenue, and 'Summe' named as a customer)
    wb = xlsxwriter.Workbook(tmp_path / "Bestellungen.xlsx")
    sheet = wb.add_worksheet("Bestellungen")
    sheet.write_row(0, 0, ["Kundennummer", "Bestelldatum", "Gesamtbetrag (brutto)"])
    sheet.write_row(1, 0, ["K1", "2025-01-02", 100])
    sheet.write_row(2, 0, ["K2", "2025-01-03", 50])
    sheet.write(4, 0, "Summe")
    sheet.write_formula(4, 2, "=SUM(C2:C3)", None, 150)
    wb.close()
    source = read_source(tmp_path / "Bestellungen.xlsx")
    assert source.frame["Kundennummer"].tolist() == ["K1", "K2"]
    assert source.lines.tolist() == [2, 3]
    assert (
        source.notes[1]
        == "footer skipped (1 row(s) from row 5: a totals row such as 'Summe | 150')"
    )
