"""The records of a CSV text, each with the span of physical lines it stands on.

A record whose quote does not close its field is read as its first line alone, and the lines
after it again (:func:`read_again_after_misquotes`); a record of another field count than the
header (:func:`field_count_problems`) or a last one cut off by a truncated file
(:func:`cut_at_end`) carries a *structural problem* that ingest turns into a quarantine reason.
Records are stored compactly, in blocks of Arrow arrays.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.mapping import IngestError
from features.separators import WHITESPACE, split_fields

FIELD_COUNT = "field count differs from header"
TRUNCATED = "truncated last line"
UNCLOSED_QUOTE = 'a quote (") in this line does not close its field'  # later lines read again


class Lines(Sequence[str]):
    """Physical lines of a text, broken only at ``\\n`` (or a lone ``\\r``), as CSV readers do.

    ``str.splitlines`` would also break at U+2028, U+0085 and form feeds, which occur inside
    text fields copied from the web or Word. A line is cut from the text when it is used (a list
    of lines would hold each as a string of its own); a slice is a view of the same text.
    """

    def __init__(self, text: str, bounds: np.ndarray | None = None):
        if bounds is None:
            end = "\n" if "\n" in text or "\r" not in text else "\r"
            ends = np.fromiter((m.end() for m in re.finditer(end, text)), dtype="int64")
            bounds = np.concatenate([np.zeros(1, "int64"), ends])
            if bounds[-1] < len(text):  # a last line without a line end
                bounds = np.append(bounds, len(text))
        self.text, self.bounds = text, bounds  # line i is text[bounds[i] : bounds[i + 1]]

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Lines: ...
    def __getitem__(self, i: int | slice) -> str | Lines:
        if isinstance(i, slice):
            lo, hi, _ = i.indices(len(self))
            return Lines(self.text, self.bounds[lo : max(lo, hi) + 1])
        i = i + len(self) if i < 0 else i
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.text[self.bounds[i] : self.bounds[i + 1]]

    def __iter__(self) -> Iterator[str]:
        for lo in range(0, len(self), BLOCK_RECORDS):
            bounds = self.bounds[lo : lo + BLOCK_RECORDS + 1].tolist()
            yield from (self.text[a:b] for a, b in pairwise(bounds))


def read_again_after_misquotes(
    path: Path, lines: Sequence[str], records: _Records, sep: str
) -> tuple[_Records, set[int]]:
    """A record whose quote does not close its field (csv read the next lines, up to a later
    stray quote or the end, into it) is its first line alone: one bad record; the lines after
    it are read again. Also returns the first lines of such records."""
    unclosed: set[int] = set()
    i = 0
    while True:
        spans = records.spans
        multi = i + np.flatnonzero(spans[i:, 1] - spans[i:, 0] > 1)
        bad = next((k for k in multi if _misquoted(lines, tuple(spans[k]), sep)), None)
        if bad is None:
            return records, unclosed
        start = int(spans[bad, 0])
        alone = next(csv.reader([lines[start]], delimiter=sep))
        records = _Records(
            [
                *records[:bad].blocks,
                _Block.of([alone], [_filled(alone)], [(start, start + 1)]),
                *read_records(path, lines[start + 1 :], sep, start + 1).blocks,
            ]
        )
        unclosed.add(start)
        i = int(bad) + 1


def field_count_problems(body: _Records, width: int) -> np.ndarray:
    """``FIELD_COUNT`` for each record of another field count than the header (trailing empty
    fields, a spreadsheet artefact, do not count), else None."""
    counts, filled = body.counts, body.filled
    trimmed = (counts > width) & (filled <= width)
    problems = np.full(len(counts), None, dtype=object)
    problems[(counts != width) & ~trimmed] = FIELD_COUNT
    return problems


#: Records per block of :class:`_Records` (the Python strings of one block are alive at once).
BLOCK_RECORDS = 65_536


@dataclass
class _Block:
    """Consecutive records, compact: their fields one after another in one Arrow array."""

    fields: pa.Array  # large_string
    counts: np.ndarray  # fields per record
    filled: np.ndarray  # fields per record up to its last non-blank one
    spans: np.ndarray  # (records, 2): first physical line and the one after the record

    @classmethod
    def of(
        cls, records: list[list[str]], filled: list[int], spans: list[tuple[int, int]]
    ) -> _Block:
        return cls(
            pa.array([f for fields in records for f in fields], type=pa.large_string()),
            np.array([len(fields) for fields in records], dtype="int64"),
            np.array(filled, dtype="int64"),
            np.array(spans, dtype="int64").reshape(-1, 2),
        )

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def firsts(self) -> np.ndarray:
        """Position in ``fields`` of each record's first field."""
        return np.cumsum(self.counts) - self.counts

    def record(self, i: int) -> list[str]:
        return self.fields.slice(self.firsts[i], self.counts[i]).to_pylist()

    def slice(self, lo: int, hi: int) -> _Block:
        firsts = self.firsts
        begin = firsts[lo] if lo < len(self) else len(self.fields)
        end = firsts[hi] if hi < len(self) else len(self.fields)
        return _Block(
            self.fields.slice(begin, end - begin),
            self.counts[lo:hi],
            self.filled[lo:hi],
            self.spans[lo:hi],
        )

    def column(self, j: int) -> pa.Array:
        """Field ``j`` of each record (null where a record has fewer fields)."""
        return self.fields.take(pa.array(self.firsts + j, mask=self.counts <= j))


def _filled(fields: list[str]) -> int:
    """The field count without trailing blank fields (0: a blank record)."""
    n = len(fields)
    while n and not fields[n - 1].strip():
        n -= 1
    return n


class _Records(Sequence[list[str]]):
    """The records of a file as a sequence of field lists, stored in :class:`_Block`\\ s."""

    def __init__(self, blocks: list[_Block]):
        self.blocks = [b for b in blocks if len(b)]
        self._ends = np.cumsum([len(b) for b in self.blocks], dtype="int64")

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    @overload
    def __getitem__(self, i: int) -> list[str]: ...
    @overload
    def __getitem__(self, i: slice) -> _Records: ...
    def __getitem__(self, i: int | slice) -> list[str] | _Records:
        if isinstance(i, slice):
            lo, hi, _ = i.indices(len(self))
            return _Records([self._block_slice(b, lo, hi) for b in range(len(self.blocks))])
        i = i + len(self) if i < 0 else i
        if not 0 <= i < len(self):
            raise IndexError(i)
        b = int(np.searchsorted(self._ends, i, side="right"))
        return self.blocks[b].record(i - self._begin(b))

    def _begin(self, b: int) -> int:
        return int(self._ends[b - 1]) if b else 0

    def _block_slice(self, b: int, lo: int, hi: int) -> _Block:
        begin = self._begin(b)
        block = self.blocks[b]
        return block.slice(min(max(lo - begin, 0), len(block)), min(max(hi - begin, 0), len(block)))

    def _joined(self, name: str) -> np.ndarray:
        parts = [getattr(b, name) for b in self.blocks]
        return np.concatenate(parts) if parts else np.empty(0, dtype="int64")

    @property
    def counts(self) -> np.ndarray:
        return self._joined("counts")

    @property
    def filled(self) -> np.ndarray:
        return self._joined("filled")

    @property
    def spans(self) -> np.ndarray:
        return self._joined("spans").reshape(-1, 2)

    def column(self, j: int) -> pa.ChunkedArray:
        """Field ``j`` of each record (null where a record has fewer fields)."""
        return pa.chunked_array([b.column(j) for b in self.blocks], type=pa.large_string())


def read_records(path: Path, lines: Sequence[str], sep: str, offset: int) -> _Records:
    """The non-blank records of ``lines`` and the span of physical lines of each (from
    ``offset``): :func:`_read_unquoted` where that reads them exactly as ``csv`` would."""
    if isinstance(lines, Lines) and _unquoted(lines, sep):
        return _read_unquoted(lines, sep, offset)
    return read_with_csv(path, lines, sep, offset)


def read_with_csv(path: Path, lines: Sequence[str], sep: str, offset: int) -> _Records:
    """:func:`read_records` by Python's ``csv`` (any quoting), a block of records at a time."""
    blocks: list[_Block] = []
    records: list[list[str]] = []
    filled: list[int] = []
    spans: list[tuple[int, int]] = []
    reader = (
        split_fields(sep, lines)
        if sep == WHITESPACE
        else csv.reader(iter(lines), delimiter=sep, quotechar='"', doublequote=True)
    )
    csv.field_size_limit(1 << 30)
    consumed = 0
    try:
        for fields in reader:
            start = consumed
            consumed = consumed + 1 if sep == WHITESPACE else reader.line_num
            if n := _filled(fields):
                records.append(fields)
                filled.append(n)
                spans.append((offset + start, offset + consumed))
                if len(records) == BLOCK_RECORDS:
                    blocks.append(_Block.of(records, filled, spans))
                    records, filled, spans = [], [], []
    except csv.Error as exc:
        raise IngestError(
            f"{path}: line {offset + consumed + 1}: not readable as CSV ({exc}); check --sep"
        ) from exc
    return _Records([*blocks, _Block.of(records, filled, spans)])


@cache
def _space_class() -> str:
    """The characters ``str.strip()`` strips (``str.isspace``) as a regular expression class."""
    return (
        "[" + "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x110000)) if c.isspace()) + "]"
    )


def _unquoted(lines: Lines, sep: str) -> bool:
    """Lines ``csv`` reads as one record each, split at ``sep``: no quote, no NUL, and a
    carriage return only before a line feed."""
    if len(sep) != 1 or sep in '"\r\n\0' or not len(lines):
        return False
    text = lines.text[int(lines.bounds[0]) : int(lines.bounds[-1])]
    return not ('"' in text or "\0" in text or text.count("\r") != text.count("\r\n"))


def _read_unquoted(lines: Lines, sep: str, offset: int) -> _Records:
    """:func:`read_records` of :func:`_unquoted` lines, in Arrow (a 1M-row export: 4.9 s of
    CPU in ``csv`` and Python lists before): each line split at ``sep``, blank lines dropped."""
    text = lines.text[int(lines.bounds[0]) : int(lines.bounds[-1])]
    cut = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
    cut = cut.slice(0, len(lines))  # not the empty piece after a last line end
    if "\r" in text:
        cut = pc.replace_substring(cut, "\r", "")  # a CRLF line's end
    split = pc.split_pattern(cut, sep)
    fields = split.flatten()
    counts = pc.list_value_length(split).to_numpy().astype("int64")
    filled = counts.copy()
    lasts = fields.take(pa.array(np.cumsum(counts) - 1))
    for i in np.flatnonzero(
        pc.match_substring_regex(lasts, f"^{_space_class()}*$").to_numpy(False)
    ):
        filled[i] = _filled(split[int(i)].as_py())  # a blank last field: trailing blanks
    kept = np.flatnonzero(filled > 0)
    where = offset + kept
    block = _Block(
        fields if len(kept) == len(split) else split.take(pa.array(kept)).flatten(),
        counts[kept],
        filled[kept],
        np.stack([where, where + 1], axis=1),
    )
    ends = range(0, len(block), BLOCK_RECORDS)
    return _Records([block.slice(lo, min(lo + BLOCK_RECORDS, len(block))) for lo in ends])


def _strict_error(lines: Sequence[str], span: tuple[int, int], sep: str) -> str | None:
    """The error of a strict CSV reading of the record on ``lines[span]``, None when it reads
    cleanly (its quotes open and close fields as CSV says)."""
    if sep == WHITESPACE:
        return None
    try:
        for _ in csv.reader(iter(lines[span[0] : span[1]]), delimiter=sep, strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _misquoted(lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A record whose quote does not close its field: it never closes, or text follows it."""
    return _strict_error(lines, span, sep) is not None


def _unclosed(lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A record that ends inside a quoted field."""
    return "unexpected end of data" in (_strict_error(lines, span, sep) or "")


def cut_at_end(text: str, lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A file that stops without a line end, or inside a quoted field, lost the end of its last
    row (a literal ``"`` inside an unquoted field, ``27" monitor``, is no open quote)."""
    return not text.endswith(("\n", "\r")) or _unclosed(lines, span, sep)
