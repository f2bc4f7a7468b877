"""Ranges of predicted customer value by split-conformal prediction (Mondrian, ratio scores).

A range ``[predicted_value_low, predicted_value_high]`` should hold the customer's actual value
over the horizon with probability ``level`` (80% by default, ``clv.interval_level``). It is fitted
on *calibration* customers whose outcome windows end before the cutoff the ranges are used at:

- groups (Mondrian): prospects, one-time buyers and repeat buyers, the repeat buyers split by
  their purchase rhythm (on rhythm, overdue, lapsed: :func:`interval_groups`), and within each
  group bins of the predicted value (quantile edges, ``clv.interval_bins``), so that coverage
  holds per kind of customer, per lifecycle stage and per value level, not only on average. A
  group with too few calibration customers uses its parent's ranges (``repeat/overdue`` ->
  ``repeat`` -> everyone);
- per bin, the conformity score is the ratio ``actual / predicted``. When at least ``(1 - level)/2``
  of the bin's customers spent nothing, the range starts at 0 (it holds every zero) and its upper
  ratio is the conformal ``level`` quantile; otherwise the lower and upper ratios are the conformal
  ``(1 - level)/2`` and ``(1 + level)/2`` quantiles (finite-sample ranks ``floor((n + 1) a)`` and
  ``ceil((n + 1) b)``). Coverage per bin is then at least ``level`` when calibration and scored
  customers are exchangeable within the bin (split conformal, Vovk et al.; Mondrian per group).
- the range always contains the point forecast (``low <= predicted <= high``); widening a range to
  do so only raises its coverage.

Where more than ``level`` of a bin's customers spend nothing, the range is {0} (shown as 0 to the
forecast) and covers them all: coverage there is the zero share, and no range containing 0 can
cover less. :func:`attainable_coverage` is that floor; reports compare coverage with it.

Where it is calibrated: training (``training.train``) on the validation split (labels end before
the test cutoff; coverage is reported on the test split); a backtest (``training.backtest``) on its
pseudo-backtest (the same pipeline at ``cutoff - H'``, or 52 weeks before the cutoff when the base
has a purchase seasonality; outcomes ending by the cutoff, horizon ratio
about the backtest's). Stored as JSON with the pair (``training.bundle``), never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from training.seasonality import NO_SEASONALITY, Seasonality

#: Default nominal coverage of a range (``clv.interval_level``).
DEFAULT_LEVEL = 0.8
#: A bin holds at least this many calibration customers (fewer: fewer bins).
MIN_BIN_ROWS = 50
#: A group with fewer calibration customers than this uses the ranges fitted on everyone.
MIN_GROUP_ROWS = 100
#: Group of every customer together: the fallback of small or unseen groups.
ALL = "all"
#: Repeat buyers are split at these numbers of usual gaps since their last order (recency_days /
#: mean_gap_days): the defaults at which the stage rules call a customer declining (2) and churned
#: (4; ``serving.config.StageRules``). Customers this far past their rhythm either come back or
#: not, so their outcomes spread unlike those of customers on rhythm with the same forecast.
RHYTHM_EDGES = (2.0, 4.0)
RHYTHM_LABELS = ("on_rhythm", "overdue", "lapsed")
MIN_GAP_DAYS = 7.0  # floor on the usual gap (the stage rules' min_gap_days)
_FLOOR = 1e-9  # predicted values below this count as this (ratios stay finite)


def interval_groups(frame: pd.DataFrame) -> np.ndarray:
    """Mondrian group per row: ``prospect`` (no purchase yet: ``is_prospect`` 1 or ``orders_all``
    0), ``one_time`` (one order) or ``repeat`` (more, or unknown); repeat buyers with a known
    recency and usual gap as ``repeat/<rhythm>`` (:data:`RHYTHM_EDGES`, :data:`RHYTHM_LABELS`)."""
    orders = _column(frame, "orders_all", np.nan)
    prospect = (_column(frame, "is_prospect", 0.0) == 1) | (orders <= 0)
    groups = np.where(prospect, "prospect", np.where(orders == 1, "one_time", "repeat"))
    gaps = _column(frame, "recency_days", np.nan) / np.maximum(
        _column(frame, "mean_gap_days", np.nan), MIN_GAP_DAYS
    )
    known = (groups == "repeat") & np.isfinite(gaps)
    rhythm = np.asarray(RHYTHM_LABELS, dtype=object)[
        np.searchsorted(np.asarray(RHYTHM_EDGES), np.nan_to_num(gaps), side="right")
    ]
    return np.where(known, "repeat/" + rhythm.astype(str), groups).astype(object)


def group_reports(groups: np.ndarray) -> dict[str, np.ndarray]:
    """The groupings coverage is reported by: ``group`` (prospect, one_time, repeat) and
    ``mondrian_group`` (the calibration groups, e.g. ``repeat/overdue``)."""
    labels = np.asarray(groups, dtype=object)
    top = np.array([str(g).split("/", 1)[0] for g in labels], dtype=object)
    return {"group": top, "mondrian_group": labels}


def parent_group(group: str) -> str:
    """The group whose ranges a group without its own uses: ``a/b`` -> ``a``, else everyone."""
    return group.rsplit("/", 1)[0] if "/" in group else ALL


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default)
    return pd.to_numeric(frame[name], errors="coerce").fillna(default).to_numpy(dtype=float)


@dataclass(frozen=True)
class BinRatios:
    """One group's bins: upper edges of the predicted value (``len(lower) - 1`` of them) and the
    lower/upper ratio and calibration count of each bin."""

    edges: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    counts: tuple[int, ...]

    def ratios(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bins = np.searchsorted(np.asarray(self.edges, dtype=float), predicted, side="right")
        return np.asarray(self.lower)[bins], np.asarray(self.upper)[bins]


@dataclass(frozen=True)
class ValueIntervals:
    """Fitted ranges: per Mondrian group, ratios per bin of the predicted value (plain JSON)."""

    level: float
    groups: Mapping[str, BinRatios]
    horizon_days: int | None = None  # of the calibration outcomes (see ``predict``)
    calibration_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def fit(
        cls,
        predicted,
        actual,
        *,
        level: float = DEFAULT_LEVEL,
        bins: int = 10,
        groups=None,
        horizon_days: int | None = None,
    ) -> ValueIntervals:
        """Calibrate on forecasts ``predicted`` and outcomes ``actual`` (net returns count as 0)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins!r}")
        predicted = np.maximum(np.asarray(predicted, dtype=float).reshape(-1), _FLOOR)
        actual = np.clip(np.asarray(actual, dtype=float).reshape(-1), 0.0, None)
        if predicted.shape != actual.shape:
            raise ValueError(f"predicted has {len(predicted)} values, actual {len(actual)}")
        ok = np.isfinite(predicted) & np.isfinite(actual)
        needed = min_calibration_rows(level)
        if ok.sum() < needed:
            raise ValueError(
                f"conformal ranges at level {level} need at least {needed} calibration "
                f"customers with finite forecasts and outcomes, got {int(ok.sum())}"
            )
        labels = _labels(groups, len(predicted))
        predicted, actual, labels = predicted[ok], actual[ok], labels[ok]
        fitted = {ALL: _fit_bins(predicted, actual, level, bins)}
        notes = []
        parents = {parent_group(str(g)) for g in set(labels)} - {ALL}
        for group in sorted(parents | set(labels)):  # parents first: "repeat" < "repeat/..."
            idx = (labels == group) | np.char.startswith(labels.astype(str), f"{group}/")
            if idx.sum() >= max(MIN_GROUP_ROWS, needed):
                fitted[group] = _fit_bins(predicted[idx], actual[idx], level, bins)
            else:
                notes.append(
                    f"group {group}: {int(idx.sum())} calibration customers, "
                    f"uses '{_resolve(fitted, group)}'"
                )
        return cls(level, fitted, horizon_days, int(ok.sum()), tuple(notes))

    def predict(
        self, predicted, groups=None, horizon_days: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` per row around the point forecasts ``predicted`` (NaN stays NaN).

        ``horizon_days`` (of ``predicted``), when it differs from the calibration horizon, places
        each forecast in the bin of ``predicted * calibration horizon / horizon_days``."""
        value = np.asarray(predicted, dtype=float).reshape(-1)
        labels = _labels(groups, len(value))
        base = np.maximum(np.nan_to_num(value, nan=0.0), 0.0)
        scale = 1.0
        if horizon_days and self.horizon_days:
            scale = self.horizon_days / horizon_days
        low, high = np.full(len(value), np.nan), np.full(len(value), np.nan)
        for group in set(labels):
            idx = labels == group
            ratios = self.groups[_resolve(self.groups, group)]
            lower, upper = ratios.ratios(np.maximum(base[idx] * scale, _FLOOR))
            low[idx], high[idx] = base[idx] * lower, np.where(base[idx] > 0, base[idx] * upper, 0.0)
        low, high = np.minimum(low, base), np.maximum(high, base)
        missing = np.isnan(value)
        low[missing], high[missing] = np.nan, np.nan
        return low, high

    def cells(self, predicted, groups=None, horizon_days: int | None = None) -> np.ndarray:
        """The calibration cell (``<group>:<bin>``) each forecast falls in, as ``predict`` uses
        it."""
        value = np.maximum(np.nan_to_num(np.asarray(predicted, dtype=float).reshape(-1)), 0.0)
        labels = _labels(groups, len(value))
        scale = self.horizon_days / horizon_days if horizon_days and self.horizon_days else 1.0
        out = np.empty(len(value), dtype=object)
        for group in set(labels):
            idx = labels == group
            used = _resolve(self.groups, group)
            edges = np.asarray(self.groups[used].edges, dtype=float)
            bins = np.searchsorted(edges, np.maximum(value[idx] * scale, _FLOOR), side="right")
            out[idx] = [f"{used}:{b}" for b in bins]
        return out

    def to_dict(self) -> dict:
        return {
            "method": "split-conformal, Mondrian by group (repeat buyers by rhythm) and "
            "predicted-value bin, ratio score",
            "level": self.level,
            "horizon_days": self.horizon_days,
            "calibration_rows": self.calibration_rows,
            "notes": list(self.notes),
            "groups": {
                g: {
                    "edges": list(b.edges),
                    "lower": list(b.lower),
                    "upper": list(b.upper),
                    "counts": list(b.counts),
                }
                for g, b in self.groups.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> ValueIntervals:
        try:
            groups = {
                g: BinRatios(
                    tuple(map(float, b["edges"])),
                    tuple(map(float, b["lower"])),
                    tuple(map(float, b["upper"])),
                    tuple(map(int, b["counts"])),
                )
                for g, b in data["groups"].items()
            }
            if ALL not in groups:
                raise KeyError(f"groups.{ALL}")
            return cls(
                float(data["level"]),
                groups,
                data.get("horizon_days"),
                int(data.get("calibration_rows", 0)),
                tuple(data.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"value ranges: missing or bad field {exc}") from exc


def _resolve(groups: Mapping[str, object], group: object) -> str:
    """The fitted group whose ranges ``group`` uses: itself, else its nearest fitted parent."""
    name = str(group)
    while name not in groups and name != ALL:
        name = parent_group(name)
    return name


def _labels(groups, n: int) -> np.ndarray:
    if groups is None:
        return np.full(n, ALL, dtype=object)
    labels = np.asarray(groups, dtype=object).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"groups has {len(labels)} labels for {n} forecasts")
    return labels


def min_calibration_rows(level: float) -> int:
    """Customers a bin needs at ``level`` for finite conformal ranks (at least
    :data:`MIN_BIN_ROWS`): ``ceil((n + 1)(1 + level)/2) <= n`` needs ``n >= 2/(1 - level) - 1``."""
    return max(MIN_BIN_ROWS, int(np.ceil(2.0 / (1.0 - level))))


def _fit_bins(predicted: np.ndarray, actual: np.ndarray, level: float, bins: int) -> BinRatios:
    needed = min_calibration_rows(level)
    n_bins = max(1, min(bins, len(predicted) // needed))
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, n_bins + 1)[1:-1]))
    while len(edges):  # ties can leave a bin short: merge it with its upper (last: lower) neighbour
        counts = np.bincount(
            np.searchsorted(edges, predicted, side="right"), minlength=len(edges) + 1
        )
        short = np.flatnonzero(counts < needed)
        if not len(short):
            break
        edges = np.delete(edges, min(short[0], len(edges) - 1))
    index = np.searchsorted(edges, predicted, side="right")
    lower, upper, sizes = [], [], []
    for b in range(len(edges) + 1):
        lo, hi = conformal_ratios(predicted[index == b], actual[index == b], level)
        lower.append(lo)
        upper.append(hi)
        sizes.append(int((index == b).sum()))
    return BinRatios(tuple(map(float, edges)), tuple(lower), tuple(upper), tuple(sizes))


def conformal_ratios(
    predicted: np.ndarray, actual: np.ndarray, level: float
) -> tuple[float, float]:
    """Lower and upper ratio of one bin (see the module docstring); ``(0, inf)`` when empty."""
    n = len(actual)
    if n == 0:
        return 0.0, float("inf")
    ratios = np.sort(actual / np.maximum(predicted, _FLOOR))
    tail = (1.0 - level) / 2.0
    if np.mean(actual <= 0) >= tail:
        return 0.0, _order_statistic(ratios, _rank(np.ceil, (n + 1) * level))
    low_rank = _rank(np.floor, (n + 1) * tail)
    low = ratios[low_rank - 1] if low_rank >= 1 else 0.0
    return float(low), _order_statistic(ratios, _rank(np.ceil, (n + 1) * (1.0 - tail)))


def _rank(rounding, x: float) -> int:
    """``floor``/``ceil`` of ``x`` without float noise deciding (0.8 of 10 is 8, not
    8.000000001)."""
    return int(rounding(round(x, 9)))


def _order_statistic(sorted_values: np.ndarray, rank: int) -> float:
    """The ``rank``-th smallest value (1-based); beyond the sample: infinite (no finite bound)."""
    return float(sorted_values[rank - 1]) if rank <= len(sorted_values) else float("inf")


def interval_metrics(
    actual, low, high, level: float, prefix: str = "clv_interval_"
) -> dict[str, float]:
    """Coverage (share of actual values inside ``[low, high]``), its gap to ``level`` and the mean
    and median width, over rows with a range."""
    actual = np.clip(np.asarray(actual, dtype=float), 0.0, None)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    ok = np.isfinite(low) & np.isfinite(actual)
    inside = (actual[ok] >= low[ok]) & (actual[ok] <= high[ok])
    width = high[ok] - low[ok]
    coverage = float(inside.mean()) if ok.any() else float("nan")
    return {
        f"{prefix}coverage": coverage,
        f"{prefix}coverage_gap": coverage - level,
        f"{prefix}coverage_error": abs(coverage - level),
        f"{prefix}width": float(width.mean()) if ok.any() else float("nan"),
        f"{prefix}median_width": float(np.median(width)) if ok.any() else float("nan"),
    }


def attainable_coverage(actual, cells, level: float) -> np.ndarray:
    """Per row, the least coverage a range that contains 0 can have: ``max(level, share of the
    row's cell that spent nothing)``. Where more than ``level`` of the customers like this one
    spend nothing (likely churners), the tightest honest range is {0} and covers all of them;
    coverage above ``level`` there is forced by the zeros, not by a loose range."""
    zero = np.clip(np.asarray(actual, dtype=float), 0.0, None) <= 0
    cells = pd.Series(np.asarray(cells, dtype=object))
    share = pd.Series(zero).groupby(cells.to_numpy()).transform("mean").to_numpy(dtype=float)
    return np.maximum(level, share)


def coverage_by(actual, low, high, labels, attainable=None) -> dict[str, dict[str, float]]:
    """Per label: customers, coverage and mean width of the ranges (labels in sorted order), and
    the mean ``attainable`` coverage (:func:`attainable_coverage`) when given."""
    actual = np.clip(np.asarray(actual, dtype=float), 0.0, None)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    labels = np.asarray(labels, dtype=object)
    out = {}
    for label in sorted(set(labels.tolist()), key=str):
        idx = (labels == label) & np.isfinite(low)
        if idx.any():
            inside = (actual[idx] >= low[idx]) & (actual[idx] <= high[idx])
            out[str(label)] = {
                "customers": int(idx.sum()),
                "coverage": float(inside.mean()),
                "width": float((high[idx] - low[idx]).mean()),
            }
            if attainable is not None:
                out[str(label)]["attainable"] = float(np.mean(np.asarray(attainable)[idx]))
    return out


def coverage_report(
    actual, low, high, level: float, groupings: Mapping[str, np.ndarray], cells=None
) -> dict:
    """Overall metrics (:func:`interval_metrics`, without prefix), :func:`coverage_by` per
    grouping (e.g. ``{"stage": ..., "value_segment": ...}``) and the largest gap of any group with
    at least :data:`MIN_GROUP_ROWS` customers. With ``cells`` (``ValueIntervals.cells``) the gaps
    are to the attainable coverage (:func:`attainable_coverage`), reported as ``attainable``."""
    report: dict = interval_metrics(actual, low, high, level, prefix="")
    attainable = None if cells is None else attainable_coverage(actual, cells, level)
    target = level
    if attainable is not None:
        ok = np.isfinite(np.asarray(low, dtype=float))
        target = float(attainable[ok].mean()) if ok.any() else float("nan")
        report["attainable"] = target
        report["attainable_gap"] = report["coverage"] - target
    worst = 0.0
    for name, labels in groupings.items():
        report[name] = coverage_by(actual, low, high, labels, attainable)
        gaps = [
            abs(g["coverage"] - g.get("attainable", level))
            for g in report[name].values()
            if g["customers"] >= MIN_GROUP_ROWS
        ]
        worst = max([worst, *gaps])
    report["worst_group_gap"] = worst
    return report


def flat_metrics(report: dict, prefix: str) -> dict[str, float]:
    """A :func:`coverage_report` as MLflow metrics: ``<prefix>coverage``, ``<prefix>width``, ...
    and ``<prefix><grouping>.<label>.coverage``."""
    metrics = {f"{prefix}{k}": float(v) for k, v in report.items() if not isinstance(v, dict)}
    for name, groups in report.items():
        if isinstance(groups, dict):
            for label, values in groups.items():
                safe = "".join(c if c.isalnum() or c in "_-." else "_" for c in label)
                metrics[f"{prefix}{name}.{safe}.coverage"] = values["coverage"]
                metrics[f"{prefix}{name}.{safe}.width"] = values["width"]
                if "attainable" in values:
                    metrics[f"{prefix}{name}.{safe}.attainable"] = values["attainable"]
    return metrics


def fit_on_frame(
    frame: pd.DataFrame, predicted, *, level: float, bins: int, horizon_days: int | None = None
) -> ValueIntervals | None:
    """Ranges calibrated on the rows of ``frame`` (outcome column ``future_value``, groups from
    :func:`interval_groups`) and their point forecasts ``predicted``; None with fewer than
    :data:`MIN_BIN_ROWS` rows (no range is better than one from a handful of customers)."""
    if len(frame) < min_calibration_rows(level):
        return None
    return ValueIntervals.fit(
        predicted,
        frame["future_value"].to_numpy(dtype=float),
        level=level,
        bins=bins,
        groups=interval_groups(frame),
        horizon_days=horizon_days,
    )


def frame_metrics(
    frame: pd.DataFrame, predicted, intervals: ValueIntervals | None, prefix: str = "clv_interval_"
) -> dict[str, float]:
    """Coverage and width of ``intervals`` on the rows of ``frame`` (``future_value``) overall
    and per Mondrian group (``<prefix>group.<group>.coverage``), as MLflow metrics; NaN without
    ranges."""
    if intervals is None:
        return missing_range_metrics(prefix)
    groups = interval_groups(frame)
    low, high = intervals.predict(predicted, groups)
    report = coverage_report(
        frame["future_value"].to_numpy(dtype=float),
        low,
        high,
        intervals.level,
        group_reports(groups),
        intervals.cells(predicted, groups),
    )
    return flat_metrics(report, prefix)


@dataclass
class BacktestRanges:
    """A backtest's ranges for LightGBM and BTYD, calibrated on its pseudo-backtest."""

    lightgbm: ValueIntervals
    btyd: ValueIntervals
    columns: dict[str, np.ndarray]  # predicted_value_low/high, btyd_value_low/high per customer
    report: dict  # coverage_report per model, and where the ranges were calibrated


def backtest_ranges(
    pseudo_evaluation: pd.DataFrame,
    pseudo_value,
    evaluation: pd.DataFrame,
    value,
    *,
    level: float,
    bins: int,
    pseudo_horizon_days: int,
    horizon_days: int,
    groupings: Mapping[str, np.ndarray] | None = None,
) -> BacktestRanges:
    """Calibrate ranges on a pseudo-backtest (its forecasts ``pseudo_value`` and outcomes over
    ``[C', C' + H')``, which end by the backtest cutoff) and apply them at the cutoff: LightGBM's
    ``value`` and BTYD's ``btyd_expected_value``, each with its own calibration. ``groupings``
    (e.g. stage and value segment of the evaluation customers) break the coverage down."""
    pseudo_btyd = pseudo_evaluation["btyd_expected_value"].to_numpy(dtype=float)
    lightgbm, btyd = (
        fit_on_frame(pseudo_evaluation, v, level=level, bins=bins, horizon_days=pseudo_horizon_days)
        for v in (pseudo_value, pseudo_btyd)
    )
    if lightgbm is None or btyd is None:
        raise ValueError(
            f"value ranges: {len(pseudo_evaluation):,} pseudo-backtest customers, fewer than the "
            f"{min_calibration_rows(level):,} a calibration at level {level} needs"
        )
    fitted = {"lightgbm": lightgbm, "btyd": btyd}
    groups = interval_groups(evaluation)
    actual = evaluation["future_value"].to_numpy(dtype=float)
    forecasts = {
        "lightgbm": np.asarray(value, dtype=float),
        "btyd": evaluation["btyd_expected_value"].to_numpy(dtype=float),
    }
    columns, report = {}, {}
    for model, intervals in fitted.items():
        low, high = intervals.predict(forecasts[model], groups, horizon_days=horizon_days)
        name = "predicted_value" if model == "lightgbm" else "btyd_value"
        columns[f"{name}_low"], columns[f"{name}_high"] = low, high
        cells = intervals.cells(forecasts[model], groups, horizon_days=horizon_days)
        report[model] = coverage_report(
            actual, low, high, level, {**group_reports(groups), **dict(groupings or {})}, cells
        )
    report["calibration"] = {
        "pseudo_horizon_days": pseudo_horizon_days,
        "customers": fitted["lightgbm"].calibration_rows,
        "level": level,
    }
    return BacktestRanges(fitted["lightgbm"], fitted["btyd"], columns, report)


def missing_range_metrics(prefix: str = "clv_interval_") -> dict[str, float]:
    """The range metrics of a backtest without ranges (no pseudo-backtest fits): NaN."""
    return {
        f"{prefix}{k}": float("nan")
        for k in (
            "coverage",
            "coverage_gap",
            "coverage_error",
            "width",
            "median_width",
            "attainable",
            "attainable_gap",
            "worst_group_gap",
        )
    }


def ranges_for_backtest(
    data_dir,
    plan,
    cfg,
    evaluation: pd.DataFrame,
    churn_probability,
    value,
    *,
    pseudo=None,
    anchored: bool,
    range_groups=None,
    log=print,
    season: Seasonality = NO_SEASONALITY,
) -> BacktestRanges | None:
    """The ranges of a backtest (``training.backtest``): calibrated on its pseudo-backtest
    ``pseudo`` (a ``Forecast`` whose outcomes end by the cutoff; fitted here when None), with the
    LightGBM total anchored to BTYD's as at the cutoff when ``anchored``; ``season`` is the
    backtest's seasonality, for a pseudo-backtest fitted here. ``range_groups`` (features, churn
    probability, value -> labels per grouping) adds coverage per stage and value segment. None
    (and a log line) when no pseudo-backtest fits before the cutoff."""
    from training.backtest_forecast import fit_and_forecast
    from training.backtest_plan import pseudo_backtest_plan, pseudo_window
    from training.dataset import data_bounds, first_repeat_cutoff

    pseudo_plan = pseudo_backtest_plan(
        data_bounds(data_dir)[0],
        plan.cutoff,
        plan.horizon_days,
        cfg,
        season,
        first_repeat_cutoff(data_dir),
    )
    if pseudo_plan is None:
        log(f"no pseudo-backtest fits before {plan.cutoff}: no predicted-value ranges")
        return None
    if pseudo_plan.cutoff + timedelta(days=pseudo_plan.horizon_days) > plan.cutoff:
        raise ValueError(f"range calibration outcomes end after the cutoff {plan.cutoff}")
    if pseudo is None:
        pseudo = fit_and_forecast(data_dir, pseudo_plan, cfg, season)
    elif pseudo.plan is not None and pseudo.plan != pseudo_plan:
        raise ValueError(
            f"the pseudo-backtest given (cutoff {pseudo.plan.cutoff}) is not the one the ranges "
            f"of this backtest are calibrated on (cutoff {pseudo_plan.cutoff})"
        )
    needed = min_calibration_rows(cfg.clv.interval_level)
    if len(pseudo.evaluation) < needed:
        log(
            f"pseudo-backtest at {pseudo_plan.cutoff}: {len(pseudo.evaluation)} customers, too few "
            f"for predicted-value ranges (at least {needed})"
        )
        return None
    pseudo_value = pseudo.anchored_value() if anchored else pseudo.value
    groupings = None if range_groups is None else range_groups(evaluation, churn_probability, value)
    ranges = backtest_ranges(
        pseudo.evaluation,
        pseudo_value,
        evaluation,
        value,
        level=cfg.clv.interval_level,
        bins=cfg.clv.interval_bins,
        pseudo_horizon_days=pseudo_plan.horizon_days,
        horizon_days=plan.horizon_days,
        groupings=groupings,
    )
    ranges.report["calibration"]["pseudo_cutoff"] = pseudo_plan.cutoff.isoformat()
    ranges.report["calibration"]["pseudo_window"] = pseudo_window(pseudo_plan, plan.cutoff, season)
    report = ranges.report["lightgbm"]
    log(
        f"predicted-value ranges ({cfg.clv.interval_level:.0%}, calibrated at {pseudo_plan.cutoff} "
        "over "
        f"{pseudo_plan.horizon_days}d): coverage {report['coverage']:.3f}, mean width "
        f"{report['width']:.2f}"
    )
    return ranges
