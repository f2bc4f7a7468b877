"""CRM import files: the mapping's fields as a CSV in the CRM's encoding, delimiter and formats.

The file is written to a temporary name and renamed when complete; only then are the customers'
fingerprints recorded, so a killed export never counts a customer as exported without a file.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.atomic_file import remove_stale_partials, replaced_files
from serving.writeback.fields import Mapping, Reject, csv_cell, excel_changes, now_stamp
from serving.writeback.journal import Journal, JournalError, Run, disk_full, export_lock, now
from serving.writeback.plan import scores_as_of, select


@dataclass(frozen=True)
class CsvResult:
    #: the files written: one, or the parts of ``part_paths`` (none: nothing changed)
    paths: list[Path]
    run_id: str
    written: int
    unchanged: int
    rejects: list[Reject] = field(default_factory=list)
    #: customers exported here before who are not in the scores (``Journal.not_in_scores``)
    gone: int = 0
    #: an earlier export's files still at ``out`` (``pending_keys``), replaced by this one
    replaced: list[Path] = field(default_factory=list)
    #: customers of ``replaced`` written again in this export, changed or not
    carried: int = 0

    @property
    def path(self) -> Path | None:
        """The file written (the first part of several), None when nothing changed."""
        return self.paths[0] if self.paths else None


def part_paths(path: Path, rows: int, max_rows: int | None) -> list[Path]:
    """``[path]``, or ``name.part-001.csv``, ... beside it when ``rows`` exceed ``max_rows``."""
    if not max_rows or rows <= max_rows:
        return [path]
    parts = -(-rows // max_rows)
    return [path.with_name(f"{path.stem}.part-{i:03d}{path.suffix}") for i in range(1, parts + 1)]


def export_files(path: Path) -> list[Path]:
    """The files an export to ``path`` may have left: ``path`` and its ``name.part-NNN`` parts."""
    if not path.parent.is_dir():
        return []
    part = re.compile(rf"^{re.escape(path.stem)}\.part-\d{{3}}{re.escape(path.suffix)}$")
    return sorted(p for p in path.parent.iterdir() if p == path or part.match(p.name))


def fresh_path(state: Path, name: str) -> Path:
    """``state/<name>-<UTC time>.csv``, suffixed ``-2``, ``-3``, ... past an export of the same
    second (it would replace that export's file)."""
    stamp = now_stamp()
    path = state / f"{name}-{stamp}.csv"
    n = 1
    while export_files(path):
        n += 1
        path = state / f"{name}-{stamp}-{n}.csv"
    return path


def remove_other_parts(path: Path, written: list[Path]) -> None:
    """Remove what an earlier export to the same ``path`` left that this one did not replace:
    ``name.csv`` beside this export's parts, or parts past its count. An import picking them up
    would load older scores for customers this export does not hold."""
    for other in export_files(path):
        if other not in written:
            other.unlink(missing_ok=True)


def pending_keys(path: Path, mapping: Mapping) -> tuple[set[str], list[Path]]:
    """The customer ids in the files an earlier export left at ``path`` (with this mapping's key
    column), and those files. A file still there may never have been imported: the journal
    counted its customers as exported when it was written, so replacing it with the changes
    since then alone would lose them for good. Unreadable files and files without the key
    column (not an export of this mapping) hold none."""
    encoding = "utf-8-sig" if mapping.file.encoding == "utf-8" else mapping.file.encoding
    keys: set[str] = set()
    files = []
    for other in export_files(path):
        try:
            with open(other, encoding=encoding, newline="") as handle:
                reader = csv.reader(handle, delimiter=mapping.file.delimiter)
                header = next(reader, [])
                if mapping.key not in header:
                    continue
                column = header.index(mapping.key)
                found = {row[column] for row in reader if len(row) > column and row[column]}
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        keys |= found - {mapping.null_cell}
        files.append(other)
    return keys, files


def write_csv(rows: list[dict], mapping: Mapping, path: Path) -> None:
    """Write ``rows`` (records of ``mapping``) as the CRM's import file (``write_parts``)."""
    write_parts([(path, rows)], mapping)


def write_parts(parts: list[tuple[Path, list[dict]]], mapping: Mapping) -> None:
    """Write each ``(path, rows)`` as one of the CRM's import files, all as one result: through
    temporary files of this writer's own (``features.atomic_file.replaced_files``), renamed only
    once every part is written, so a full disk at a later part leaves the earlier export's parts
    in place (they name the customers that may not be imported yet: ``pending_keys``), and two
    exports to one ``--out`` each leave whole files, never one interleaved from both."""
    encoding = (
        "utf-8-sig"
        if mapping.file.bom and mapping.file.encoding == "utf-8"
        else (mapping.file.encoding)
    )
    try:
        with replaced_files([path for path, _ in parts]) as tmps:
            for tmp, (_, rows) in zip(tmps, parts, strict=True):
                with open(tmp, "x", encoding=encoding, newline="") as out:
                    writer = csv.writer(
                        out,
                        delimiter=mapping.file.delimiter,
                        lineterminator=mapping.file.line_terminator,
                        quoting=csv.QUOTE_MINIMAL,
                    )
                    writer.writerow(mapping.columns)
                    for row in rows:
                        writer.writerow(
                            [csv_cell(row[f.column], f, mapping) for f in mapping.fields]
                        )
    except OSError as exc:  # the temporary files are gone, the previous files untouched
        raise file_error(parts[0][0], exc) from None


def file_error(path: Path, exc: OSError) -> JournalError:
    """A one-line error for an import file that could not be written: the journal records an
    export only after its files are written, so nothing of this one is recorded."""
    if disk_full(exc):
        return JournalError(
            f"{path}: the disk is full, the export file could not be written "
            f"({exc.strerror or exc}); nothing is recorded as exported (the journal is as it "
            "was). Free space and run the same `lifecycle export` again."
        )
    return JournalError(f"{path}: the export file could not be written ({exc})")


def _warn_of_ids_excel_changes(ids: list[str], mapping: Mapping) -> None:
    """Once per export, for a mapping whose workflow opens the file in Excel/WPS: how many
    customer ids Excel would change (``fields.excel_changes``), with an example."""
    changed = [i for i in ids if excel_changes(i)]
    if mapping.opened_in_spreadsheet and changed:
        warnings.warn(
            f"{len(changed):,} customer ids in this {mapping.name} file would be changed by "
            f"Excel/WPS opening it (e.g. {changed[0]!r}: leading zeros, more than 15 digits, "
            "dates and 1E5 become numbers or dates), and the import would then miss their "
            "records: import the CSV directly, or open it with Data > From Text/CSV and set "
            f"the {mapping.key} column to Text before saving",
            stacklevel=3,
        )


def _warn_of_fields_to_clear(emptied: dict[str, list[str]], mapping: Mapping) -> None:
    """Once per export, when fields went empty for some customers and the mapping's import is not
    documented to clear a field from its ``null_cell``: which, how many, one customer to check."""
    if not emptied or mapping.empty_cell_clears:
        return
    column, ids = max(emptied.items(), key=lambda item: len(item[1]))
    counts = ", ".join(f"{c} {len(i):,}" for c, i in emptied.items())
    cell = repr(mapping.null_cell) if mapping.null_cell else "an empty cell"
    warnings.warn(
        f"fields went empty since the last export to {mapping.name} ({counts}) and are written "
        f"as {cell}; whether {mapping.crm}'s import clears a field from it on update is not "
        f"verified (README, 'empty cell on update'): after this import, check that customer "
        f"{ids[0]!r} has no {column} in the CRM, else last export's value is still there",
        stacklevel=3,
    )


def export_csv(
    scores: pd.DataFrame,
    scores_name: str,
    mapping: Mapping,
    state: Path,
    *,
    out: Path | None = None,
    full: bool = False,
    allow_older: bool = False,
) -> CsvResult:
    """Write the changed customers (all with ``full``) to ``out`` (default
    ``state/<mapping>-<UTC time>.csv``; in parts past the mapping's ``max_rows_per_file``) and
    record them as exported to this target; the customers of an earlier export's files still at
    ``out`` are written again (``pending_keys``). Scores older than those already exported here
    are refused unless ``allow_older``."""
    as_of = scores_as_of(scores)
    with export_lock(state), Journal(state / "journal.sqlite") as journal:
        for stale in state.glob("*.csv.partial"):  # a killed older version's; the lock says
            stale.unlink(missing_ok=True)  # none runs
        remove_stale_partials(state, r".+\.csv")  # a killed export's, of a time-stamped name
        journal.check_as_of(as_of, f"{state.parent.name}/{state.name}", allow_older=allow_older)
        path = out or fresh_path(state, mapping.name)
        pending, replaced = pending_keys(path, mapping)
        selection = select(
            scores,
            mapping,
            journal,
            full=full,
            state=state,
            spreadsheet=True,
            resend=pending,
            note_gone=False,  # recorded with the file, once it is written: a failed write
        )  # leaves the journal as it was
        gone = len(selection.gone)
        if not selection.to_send:
            journal.note_not_in_scores(selection.run_id, selection.gone)
            return CsvResult([], selection.run_id, 0, selection.unchanged, selection.rejects, gone)
        rows = [record for record, _ in selection.to_send]
        carried = sum(str(r[mapping.key]) in pending for r in rows)
        paths = part_paths(path, len(rows), mapping.max_rows_per_file)
        size = mapping.max_rows_per_file or len(rows)
        write_parts(
            [(part, rows[i * size : (i + 1) * size]) for i, part in enumerate(paths)], mapping
        )
        remove_other_parts(path, paths)
        _warn_of_ids_excel_changes([str(r[mapping.key]) for r in rows], mapping)
        _warn_of_fields_to_clear(selection.emptied, mapping)
        run = Run(
            selection.run_id,
            "csv",
            mapping.name,
            scores_name,
            len(selection.to_send),
            0,
            "done",
            now(),
        )
        journal.record_file_export(
            run, {str(r[mapping.key]): fp for r, fp in selection.to_send}, as_of, selection.gone
        )
        return CsvResult(
            paths,
            selection.run_id,
            len(selection.to_send),
            selection.unchanged,
            selection.rejects,
            gone,
            replaced,
            carried,
        )
