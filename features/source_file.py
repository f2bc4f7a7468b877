"""What reading one export gives: its columns as text and where each record came from
(:class:`SourceFile`), or :class:`EmptyExport` for a file without rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.mapping import IngestError


class EmptyExport(IngestError):
    """An export with no rows (0 bytes, or a header only): one of several files may be skipped."""


@dataclass
class SourceFile:
    """The text columns of one export plus where each record came from."""

    path: Path
    frame: pd.DataFrame  # every column string dtype, one row per data record
    problems: np.ndarray  # per record: None or a structural quarantine reason
    lines: np.ndarray  # per record: 1-based physical line where it starts (0 for Parquet)
    encoding: str | None = None
    sep: str | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "csv"  # or "parquet", "workbook" (``features.workbook_source``)
    warnings: list[str] = field(default_factory=list)  # said with the table's report
    _raw_lines: Sequence[str] = field(default_factory=list, repr=False)
    _record_spans: np.ndarray | list = field(default_factory=list, repr=False)  # (n, 2)

    def raw_record(self, index: int) -> str:
        """The source text of data record ``index`` (0-based), as it stands in the file."""
        if not len(self._record_spans):
            return ", ".join(f"{k}={v}" for k, v in self.frame.iloc[index].items())
        start, end = self._record_spans[index]
        return "".join(self._raw_lines[start:end]).rstrip("\r\n")


def positional_text(value: float) -> str:
    """A float as a CSV export writes it, without an exponent (1e-05 -> 0.00001)."""
    return np.format_float_positional(value, trim="-") if np.isfinite(value) else str(value)
