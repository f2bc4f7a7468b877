"""Data of one business zone scored by a pair trained on data of another: the stored times are
wall clocks, so a New York folder read by a UTC-trained pair is hours off (days, recency, the
cutoff's orders) with nothing else to show it. Both zones recorded and different: an error;
one side not recording its zone (older folders and pairs, read as UTC): a warning when the
other records a zone other than UTC, as the unrecorded side's UTC is an inference."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from features.contract import BUSINESS_ZONE, MANIFEST, TextReader, recorded_zone

#: The hours two zone names are compared at (:func:`same_zone`): every hour of the span a CRM's
#: data may cover; before it, zones now alike differ (New York's year of summer time, 1974).
_COMPARED_HOURS = ("1990-01-01", "2041-01-01")
#: Hours in a year, the span :func:`_hours_apart` says the zones' distance over.
_YEAR_HOURS = 366 * 24


class ZoneMismatch(ValueError):
    """The data's recorded business zone is not the one the pair was trained on."""

    def __init__(self, message: str, data_zone: str, model_zone: str) -> None:
        super().__init__(message)
        self.data_zone, self.model_zone = data_zone, model_zone


def build_reader() -> TextReader | None:
    """How a remote data set's manifest is read where tables are built on Spark
    (``training.dataset.build_settings``); None on DuckDB (local folders only)."""
    from training.dataset import build_settings

    engine = build_settings().engine
    return engine.read_text if engine is not None and engine.is_spark else None


def zone_said(zone: str | None) -> str:
    """A recorded zone as said and tagged: its name, or "UTC (not recorded)"."""
    return zone or "UTC (not recorded)"


@lru_cache(maxsize=16)
def _offsets(zone: str) -> np.ndarray:
    """The zone's offset from UTC at each of :data:`_COMPARED_HOURS`' hours (in hours)."""
    hours = pd.date_range(*_COMPARED_HOURS, freq="h", tz="UTC")
    local = hours.tz_convert(ZoneInfo(zone)).tz_localize(None)
    return (local - hours.tz_localize(None)).total_seconds().to_numpy() / 3600


def same_zone(a: str | None, b: str | None) -> bool:
    """Whether two recorded zones (None: UTC) are one wall clock: one name, or names whose
    clocks agree at every hour of :data:`_COMPARED_HOURS` (a link such as ``US/Eastern`` for
    ``America/New_York``, ``Etc/UCT`` or ``Universal`` for ``UTC``)."""
    a, b = a or "UTC", b or "UTC"
    if a == b:
        return True
    try:  # a pair's zone this machine's zone database does not know: the names differ
        return bool(np.array_equal(_offsets(a), _offsets(b)))
    except (KeyError, ValueError):
        return False


def _utc(zone: str | None) -> bool:
    return same_zone(zone, None)


def _hours_apart(a: str | None, b: str | None) -> str:
    """How far apart the two zones' clocks are over a year (UTC for None; the last year of
    :data:`_COMPARED_HOURS`, the zones' rules as the zone database has them, not the day of the
    run): '8 hours', '4 to 5 hours' (New York and UTC), 'up to 1 hour' (London and UTC: one in
    summer)."""

    def offsets(zone: str | None) -> np.ndarray:
        return _offsets(zone or "UTC")[-_YEAR_HOURS:]

    apart = np.abs(offsets(a) - offsets(b))
    low, high = float(apart.min()), float(apart.max())
    unit = "hour" if high == 1 else "hours"
    if low == high:
        return f"{high:g} {unit}"
    return f"up to {high:g} {unit}" if low == 0 else f"{low:g} to {high:g} {unit}"


def _ingest_with(zone: str | None) -> str:
    return "without --timezone" if _utc(zone) else f"with --timezone {zone}"


def check_zone(
    data_dir: str | Path, model_zone: str | None, model: str, read_text: TextReader | None = None
) -> str | None:
    """Whether ``data_dir`` (its recorded zone) may be read by ``model`` (a description, e.g. "the
    shop champion pair v3") trained on data of ``model_zone`` (None: not recorded). Raises
    :class:`ZoneMismatch` when both record different zones; returns a warning when one side does
    not record its zone and the other's is not UTC; None when they agree."""
    data_zone = recorded_zone(data_dir, read_text)
    if data_zone is not None and model_zone is not None:
        if same_zone(data_zone, model_zone):
            return None
        raise ZoneMismatch(
            f"data set {data_dir}: its times are the wall clock of {data_zone} ({MANIFEST} "
            f"{BUSINESS_ZONE}), and {model} was trained on data in {model_zone}: read by it, "
            f"its times would be {_hours_apart(data_zone, model_zone)} off (days, recency, "
            f"the orders before each date). Ingest {data_dir} again {_ingest_with(model_zone)}, "
            f"as its training data was, or train a pair on this data and serve it (lifecycle "
            f"train --data {data_dir} --force: the promotion gate cannot compare pairs of two "
            "zones, so without --force the champion stays); nothing was scored",
            data_zone,
            model_zone,
        )
    if _utc(data_zone) and _utc(model_zone):
        return None
    apart = _hours_apart(data_zone, model_zone)
    if data_zone is None:
        from features.engine import is_uri

        unread = (
            f"its {MANIFEST} cannot be read from {data_dir} here"
            if is_uri(data_dir) and not str(data_dir).startswith("file:") and read_text is None
            else f"{MANIFEST} has no {BUSINESS_ZONE}: ingested before it was kept, or written by "
            "other means"
        )
        return (
            f"data set {data_dir} does not record its business zone ({unread}) and is "
            f"read as UTC, while {model} was trained on data in {model_zone}: if its times are "
            f"UTC they are {apart} off for this pair; ingest it again {_ingest_with(model_zone)}"
        )
    return (
        f"{model} does not record the business zone of its training data (trained before it was "
        f"kept) and is read as trained on UTC, while data set {data_dir} is in {data_zone}: if "
        f"so, its times are {apart} off for it; train a pair on this data (lifecycle train "
        f"--data {data_dir})"
    )
