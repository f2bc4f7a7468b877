"""The YAML people write (map files, configs): a key given twice is an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.mapping import IngestError, load_mapping
from features.yaml_files import load_yaml


def test_a_key_given_twice_is_an_error_naming_it_and_both_lines() -> None:
    with pytest.raises(Exception, match=r"the key 'columns' is given twice \(first on line 1\)"):
        load_yaml("columns: {a: b}\nvalues: {}\ncolumns: {c: d}\n")
    assert load_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}


def test_a_map_file_with_two_columns_blocks_is_refused(tmp_path: Path) -> None:
    """An operator's map file with a repeated ``columns:`` key was read with the later block
    alone, and the error then named the wrong column."""
    path = tmp_path / "map.yaml"
    path.write_text("columns: {customer_id: MSISDN}\ncolumns: {ordered_at: Recharge Date}\n")
    with pytest.raises(IngestError, match="map.yaml.*'columns' is given twice"):
        load_mapping(None, path)


def test_an_empty_file_is_nothing() -> None:
    assert load_yaml("") is None and load_yaml("# only a comment\n") is None
