"""The map file's values: keys that match no value are named (features/value_keys.py)."""

from __future__ import annotations

from pathlib import Path

from features.ingest import ingest
from features.mapping import load_mapping

MAPPING = "customer_id=customer,ordered_at=date,amount=amount,status=state"


def _quiet(_msg: str) -> None:
    pass


def _orders(path: Path, states: list[str]) -> Path:
    rows = "".join(f"c{i},2024-01-{i + 1:02d},10,{s}\n" for i, s in enumerate(states))
    path.write_text("customer,date,amount,state\n" + rows, encoding="utf-8")
    return path


def test_a_key_written_otherwise_than_the_export_is_named_with_the_closest_value(tmp_path):
    """A user types 'Storno' for the export's 'Storniert (Kunde)': nothing matched it, the
    cancelled orders stayed sales, and nothing said so."""
    orders = _orders(tmp_path / "o.csv", ["Bezahlt", "Storniert (Kunde)", "Bezahlt"])
    mapping = load_mapping(MAPPING)
    mapping.values["status"] = {"Storniert Kunde": "cancelled", "Bezahlt": "completed"}
    report = ingest(tmp_path / "ok", orders, mapping, log=_quiet)["transactions"]
    assert not [w for w in report.warnings if "match no value" in w]  # folded: it matches
    mapping.values["status"] = {"Storno": "cancelled", "Bezahlt": "completed"}
    report = ingest(tmp_path / "out", orders, mapping, log=_quiet)["transactions"]
    said = [w for w in report.warnings if "match no value" in w]
    assert said == [
        "values: {status: ...} in the map file: 1 key(s) match no value of the transactions "
        "file(s): 'Storno' (closest: 'Storniert (Kunde)'); their rows keep the built-in reading; "
        "write each key as the export writes the value"
    ]


def test_a_key_matched_by_another_file_of_the_table_is_not_named(tmp_path):
    first = _orders(tmp_path / "a.csv", ["paid", "paid"])
    second = _orders(tmp_path / "b.csv", ["paid", "voided by shop"])
    mapping = load_mapping(MAPPING)
    mapping.values["status"] = {"voided by shop": "cancelled", "nowhere": "cancelled"}
    report = ingest(tmp_path / "out", [first, second], mapping, log=_quiet)["transactions"]
    said = [w for w in report.warnings if "match no value" in w]
    assert len(said) == 1 and "'nowhere'" in said[0] and "voided by shop'" not in said[0]
