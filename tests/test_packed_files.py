"""Packed exports (gzip/bzip2/xz files, a ZIP archive of one export) read as the file they hold;
broken or many-file archives are one line naming the file."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
import xlsxwriter

from features.csv_source import read_source
from features.mapping import IngestError

CSV = b"customer_id,ordered_at,amount\nc1,2024-03-01,12.50\nc2,2024-03-02,7\n"
LIFECYCLE = [sys.executable, "-c", "from lifecycle_cli import app; app()"]


def zipped(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "suffix, compress, kind",
    [(".gz", gzip.compress, "gzip"), (".bz2", bz2.compress, "bzip2"), (".xz", lzma.compress, "xz")],
)
def test_a_compressed_csv_reads_as_the_csv(tmp_path, suffix, compress, kind):
    plain = read_source(_write(tmp_path / "orders.csv", CSV))
    path = _write(tmp_path / f"orders.csv{suffix}", compress(CSV))
    packed = read_source(path)
    pd.testing.assert_frame_equal(packed.frame, plain.frame)
    assert packed.path == path and packed.lines.tolist() == [2, 3]
    assert packed.notes[0] == f"packed {kind}" and packed.encoding == "utf-8"


def test_a_zip_of_one_export_reads_it_and_names_the_member(tmp_path):
    path = zipped(
        tmp_path / "export.zip",
        {"export/": b"", "export/orders.csv": CSV, "__MACOSX/export/._orders.csv": b"\0\1"},
    )
    source = read_source(path)
    assert source.frame["customer_id"].tolist() == ["c1", "c2"]
    assert source.notes[0] == "packed zip (export/orders.csv)"
    # a workbook or Parquet file inside is read as one
    book = io.BytesIO()
    wb = xlsxwriter.Workbook(book, {"in_memory": True})
    sheet = wb.add_worksheet("Orders")
    for r, row in enumerate([["customer_id", "amount"], ["c1", 12.5]]):
        sheet.write_row(r, 0, row)
    wb.close()
    inner = read_source(zipped(tmp_path / "book.zip", {"orders.xlsx": book.getvalue()}))
    assert inner.kind == "workbook" and inner.frame["amount"].tolist() == ["12.5"]
    parquet = io.BytesIO()
    pd.DataFrame({"customer_id": ["c9"], "amount": [1.5]}).to_parquet(parquet)
    table = read_source(zipped(tmp_path / "table.zip", {"orders.parquet": parquet.getvalue()}))
    assert table.kind == "parquet" and table.frame["customer_id"].tolist() == ["c9"]
    # a workbook saved under another name is still a workbook, not an archive of its parts
    renamed = _write(tmp_path / "orders.zip", book.getvalue())
    assert read_source(renamed).kind == "workbook"


def test_archives_that_cannot_be_read_as_one_export_are_one_line(tmp_path):
    many = zipped(tmp_path / "weekly.zip", {"Account.csv": CSV, "Opportunity.csv": CSV})
    with pytest.raises(IngestError, match=r"weekly.zip: a ZIP archive of 2 files \(Account.csv, "):
        read_source(many)
    empty = zipped(tmp_path / "empty.zip", {"folder/": b""})
    with pytest.raises(IngestError, match="a ZIP archive without a file in it"):
        read_source(empty)
    cut = _write(tmp_path / "cut.zip", many.read_bytes()[:60])
    with pytest.raises(IngestError, match="cut.zip: not a whole ZIP archive"):
        read_source(cut)
    cut_gzip = _write(tmp_path / "orders.csv.gz", gzip.compress(CSV)[:-12])
    with pytest.raises(IngestError, match="gzip-compressed file that does not decompress"):
        read_source(cut_gzip)
    nothing = _write(tmp_path / "nothing.csv.gz", gzip.compress(b""))
    with pytest.raises(IngestError, match="the file packed in it is empty"):
        read_source(nothing)


def test_cli_ingests_a_gzipped_export_with_quarantine_naming_the_packed_file(tmp_path):
    rows = CSV + b"c3,not a date,3\n"
    path = _write(tmp_path / "orders.csv.gz", gzip.compress(rows))
    out = tmp_path / "out"
    args = ["ingest", "--transactions", str(path), "--out", str(out)]
    done = subprocess.run([*LIFECYCLE, *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "transactions: 3 rows read (encoding utf-8, packed gzip" in done.stderr
    quarantined = pd.read_parquet(out / "quarantine" / "transactions.parquet")
    assert quarantined["source_file"].tolist() == [str(path)]
    assert quarantined["source_line"].tolist() == [4]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_a_zip_of_one_compressed_csv_reads_as_the_csv(tmp_path):
    """A ZIP holding one .csv.gz (a folder of warehouse unloads zipped) was refused as 'gzip-
    compressed twice'; a cut one inside is named with its archive."""
    plain = read_source(_write(tmp_path / "orders.csv", CSV))
    packed = read_source(zipped(tmp_path / "orders.zip", {"out/orders.csv.gz": gzip.compress(CSV)}))
    pd.testing.assert_frame_equal(packed.frame, plain.frame)
    assert packed.notes[0] == "packed zip (out/orders.csv.gz), gzip"
    cut = zipped(tmp_path / "cut.zip", {"orders.csv.gz": gzip.compress(CSV)[:20]})
    with pytest.raises(IngestError, match=r"cut\.zip:orders\.csv\.gz: a gzip-compressed file"):
        read_source(cut)


def test_a_zip_member_named_in_the_code_page_of_chinese_windows_is_named_as_written(tmp_path):
    """Windows' 'send to compressed folder' writes names in GBK without the UTF-8 flag: the
    member was reported as '┐═╗º.csv'."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("abcd.csv", CSV)
    raw = buffer.getvalue().replace(b"abcd.csv", "客户.csv".encode("gbk"))
    source = read_source(_write(tmp_path / "export.zip", raw))
    assert source.notes[0] == "packed zip (客户.csv)"
    assert len(source.frame) == 2


def test_thumbs_db_and_desktop_ini_in_a_zipped_folder_are_no_export(tmp_path):
    """Skipped at the archive's top only: a zipped folder with Windows' Thumbs.db was refused
    as an archive of two files."""
    path = zipped(
        tmp_path / "export.zip",
        {"export/orders.csv": CSV, "export/Thumbs.db": b"\0\0", "export/desktop.ini": b"[x]"},
    )
    assert len(read_source(path).frame) == 2
