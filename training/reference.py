"""The monitoring reference kept with each model pair, and the drift statistics against it.

At training, ``build_reference`` profiles the buyers at the data's end as the new pair scores them
(``training.train.monitor_reference``: the population served first) as plain JSON: per feature,
quantile bin edges with the shares in each bin and the missing share (numbers) or the category
shares (text); the same for churn probability and predicted value; optionally the stage and tier mix
(fitted by ``serving``); the test metrics; and how far each group of customers churned off its
predictions on the held-out buyers (``training.group_gaps``). ``compare_numeric`` /
``compare_categorical`` measure a current sample against one profile: PSI over the reference
bins, the KS distance between the binned distributions, the missing-share and new-category rates.
Numpy only; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from training.group_gaps import group_gaps

REFERENCE_FORMAT = 1
#: The artifact of the training run (and key in the pair's meta) holding the reference.
REFERENCE_ARTIFACT = "monitor_reference.json"
N_BINS = 10
#: A share below this counts as this in PSI (an empty bin would make it infinite).
PSI_FLOOR = 1e-4


def numeric_profile(values, n_bins: int = N_BINS) -> dict:
    """Quantile bin edges (inner edges; the outer bins are open) and the share per bin."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    present = x[np.isfinite(x)]
    missing = 1.0 - len(present) / len(x) if len(x) else 0.0
    if len(present) == 0:
        return {"kind": "numeric", "edges": [], "shares": [], "missing": missing, "n": len(x)}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1]))
    shares = _bin_shares(present, edges)
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "shares": shares.tolist(),
        "missing": missing,
        "n": len(x),
        "min": float(present.min()),
        "max": float(present.max()),
        "median_nonzero": (median := _median_nonzero(present)),
        "quartiles_nonzero": _quartiles_nonzero(present),
        "above_median_share": _above_share(present, median),
        "distinct": len(np.unique(present)),
        "negative_share": float((present < 0).mean()),
        "counts": bool(pd.api.types.is_integer_dtype(pd.Series(values).dtype)),
    }


#: Numbers with fewer distinct reference values (counts, flags) get no median shift: a median
#: of small integers jumps between neighbours without any real change. Nor do signed quantities
#: (trends, differences: more than this share negative), whose median may sit near zero.
CONTINUOUS_MIN_DISTINCT = 50
MAX_NEGATIVE_SHARE = 0.05


#: The quantiles of the non-zero values that must all move for a shift of scale (a price rise
#: moves each by its factor; a change of mix between the humps of a feature moves the median
#: across the gap between them, far more than the quartiles within each).
SCALE_QUANTILES = (0.25, 0.5, 0.75)


def _median_nonzero(present: np.ndarray) -> float | None:
    nonzero = present[present != 0]
    return float(np.median(nonzero)) if len(nonzero) else None


def _quartiles_nonzero(present: np.ndarray) -> list[float] | None:
    nonzero = present[present != 0]
    return np.quantile(nonzero, SCALE_QUANTILES).tolist() if len(nonzero) else None


def _sides(present: np.ndarray, median: float) -> tuple[int, int]:
    """How many non-zero values lie above ``median``, and how many below."""
    nonzero = present[present != 0]
    return int((nonzero > median).sum()), int((nonzero < median).sum())


def _above_share(present: np.ndarray, median: float | None) -> float | None:
    """Of the non-zero values off their ``median``, the share above it (0.5 for continuous
    values; a count's median holds many values, so above and below need not balance)."""
    if median is None:
        return None
    above, below = _sides(present, median)
    return above / (above + below) if above + below else None


def median_shift(reference: Mapping, present: np.ndarray) -> float:
    """How far the non-zero values moved as a whole, as a symmetric ratio minus one
    (``exp(|log(current / reference)|) - 1``: 0.5 is 1.5x up or down): the smallest move of their
    quartiles (:data:`SCALE_QUANTILES`) when all moved the same way, else 0 (only the median's
    move for a reference that kept no quartiles). 0 for counts (integer columns, or fewer
    distinct values than :data:`CONTINUOUS_MIN_DISTINCT`: their median jumps between whole
    numbers, 4 -> 5 is 0.25), signed quantities or values of different sign. Catches a shift of
    scale (prices) that PSI, dominated by the spread between customers, sees only faintly; not
    a change of mix in a feature with two humps (buyers alive and lapsed), whose median leapt
    3x across the gap between them in a stable year; its quartiles moved 9x, 3x and 1.4x."""
    ref = reference.get("median_nonzero")
    if (
        not ref
        or ref < 0
        or reference.get("counts", False)
        or reference.get("distinct", 0) < CONTINUOUS_MIN_DISTINCT
        or reference.get("negative_share", 1.0) > MAX_NEGATIVE_SHARE
    ):
        return 0.0
    nonzero = present[present != 0]
    if not len(nonzero):
        return 0.0
    before = np.asarray(reference.get("quartiles_nonzero") or [ref], dtype=float)
    now = np.quantile(nonzero, SCALE_QUANTILES) if len(before) > 1 else np.median(nonzero)
    if np.any(before * now <= 0):
        return 0.0
    moves = np.log(now / before)
    if not (np.all(moves > 0) or np.all(moves < 0)):
        return 0.0
    return float(np.exp(np.min(np.abs(moves))) - 1.0)


def median_direction(reference: Mapping, present: np.ndarray) -> int:
    """Which way the non-zero median moved from the reference's: 1 up, -1 down, 0 neither (or no
    median shift measured)."""
    if not median_shift(reference, present):
        return 0
    return 1 if (_median_nonzero(present) or 0.0) > reference["median_nonzero"] else -1


def categorical_profile(values) -> dict:
    """Share of each category among present values, and the missing share."""
    s = pd.Series(values, dtype=object)
    present = s[s.notna()].astype(str)
    missing = 1.0 - len(present) / len(s) if len(s) else 0.0
    shares = present.value_counts(normalize=True).sort_index()
    return {
        "kind": "categorical",
        "shares": {str(k): float(v) for k, v in shares.items()},
        "missing": missing,
        "n": len(s),
    }


def profile(values) -> dict:
    """The profile of one column: categorical for text/categories/booleans, else numeric."""
    s = pd.Series(values)
    if (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(s)
        or s.dtype == object
        or pd.api.types.is_bool_dtype(s)
    ):
        return categorical_profile(s)
    return numeric_profile(s)


#: The buyers' age (days since their first purchase) by which a feature's missing share is
#: judged (:func:`missing_against_age`), and the upper ends of its bands: a year-ago feature has
#: no value for a buyer younger than a year (the 365-day edge), so a base that ages fills it in.
AGE_COLUMN = "age_days"
AGE_BAND_DAYS = (30, 90, 180, 365, 545, 730, 1095, 1460)
#: A band with fewer reference buyers keeps no missing share (a few customers say little).
AGE_BAND_MIN_BUYERS = 30


def age_bands(ages) -> np.ndarray:
    """The band of :data:`AGE_BAND_DAYS` of each age (-1 where unknown)."""
    x = pd.to_numeric(pd.Series(ages), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(x), np.searchsorted(AGE_BAND_DAYS, x, side="right"), -1)


def missing_by_age(values, bands: np.ndarray) -> list[float | None]:
    """The missing share of ``values`` in each age band (None: fewer than
    :data:`AGE_BAND_MIN_BUYERS` buyers of that age)."""
    missing = pd.Series(values).isna().to_numpy()
    return [
        float(missing[bands == b].mean()) if (bands == b).sum() >= AGE_BAND_MIN_BUYERS else None
        for b in range(len(AGE_BAND_DAYS) + 1)
    ]


def missing_against_age(
    reference: Mapping, values, bands: np.ndarray
) -> tuple[float, float] | None:
    """The missing share of ``values`` and the one the reference's buyers of the same ages had
    (``bands``: the current buyers', :func:`age_bands`), over the buyers of the bands the
    reference kept a share for: a buyer older than any reference buyer (a base that ages beyond
    the reference's, in a stable year a third of the buyers by December) is left out, as one of
    unknown age. None for a profile without shares by age (kept before they were) or no buyer
    of a kept age."""
    by_age = reference.get("missing_by_age")
    if not by_age:
        return None
    shares = np.array([np.nan if share is None else share for share in by_age], dtype=float)
    inside = bands >= 0
    expected = np.full(len(bands), np.nan)
    expected[inside] = shares[np.clip(bands[inside], 0, len(shares) - 1)]
    kept = np.isfinite(expected)
    if not kept.any():
        return None
    missing = pd.Series(values).isna().to_numpy()[kept]
    return float(missing.mean()), float(expected[kept].mean())


def _bin_shares(present: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return counts / max(len(present), 1)


def psi(expected, actual, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=float), floor, None)
    a = np.clip(np.asarray(actual, dtype=float), floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def shift_p_value(reference_shares, reference_n: float, current_shares, current_n: float) -> float:
    """p-value of a chi-square test that two binned samples come from one distribution (bins empty
    in both are dropped): small samples drift by chance, and PSI alone does not know ``n``."""
    from scipy.stats import chi2_contingency

    table = np.array(
        [
            np.asarray(reference_shares, dtype=float) * reference_n,
            np.asarray(current_shares, dtype=float) * current_n,
        ]
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or min(reference_n, current_n) < 1:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def median_p_value(reference: Mapping, present: np.ndarray) -> float:
    """Sign test: p-value that the non-zero values off the reference's non-zero median still fall
    above it as often as the reference's did (half the time unless values tie at the median;
    needs no reference sample, only its median and that share)."""
    from scipy.stats import binomtest

    ref = reference.get("median_nonzero")
    if ref is None:
        return 1.0
    above, below = _sides(present, ref)
    share = reference.get("above_median_share")
    share = 0.5 if share is None else share  # a reference written before the share was kept
    if not above + below or not 0 < share < 1:
        return 1.0
    return float(binomtest(above, above + below, share).pvalue)


def _present_n(reference: Mapping) -> float:
    return float(reference["n"]) * (1.0 - float(reference["missing"]))


def compare_numeric(reference: Mapping, values) -> dict:
    """PSI and KS distance of ``values`` over the reference bins, and the missing share change."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    present = x[np.isfinite(x)]
    missing = 1.0 - len(present) / len(x) if len(x) else 0.0
    edges = np.asarray(reference["edges"], dtype=float)
    ref = np.asarray(reference["shares"], dtype=float)
    if len(present) == 0 or len(ref) == 0:
        cur = np.zeros_like(ref)
        value_psi, ks = (0.0, 0.0) if len(ref) == 0 else (float("nan"), 1.0)
    else:
        cur = _bin_shares(present, edges)
        value_psi, ks = psi(ref, cur), float(np.max(np.abs(np.cumsum(cur) - np.cumsum(ref))))
    return {
        "kind": "numeric",
        "psi": value_psi,
        "ks": ks,
        "p_value": shift_p_value(ref, _present_n(reference), cur, len(present))
        if len(ref)
        else 1.0,
        "median_shift": median_shift(reference, present),
        "median_direction": median_direction(reference, present),
        "median_p_value": median_p_value(reference, present),
        "missing": missing,
        "missing_change": missing - float(reference["missing"]),
        "new_category_rate": 0.0,
        "current_shares": cur.tolist(),
        "n": len(x),
    }


def compare_categorical(reference: Mapping, values) -> dict:
    """PSI over the reference categories (+ one bin for unseen ones), the share of values in
    categories the reference never saw, which those are, and the missing share change."""
    s = pd.Series(values, dtype=object)
    present = s[s.notna()].astype(str)
    missing = 1.0 - len(present) / len(s) if len(s) else 0.0
    known = list(reference["shares"])
    counts = present.value_counts()
    n = max(len(present), 1)
    cur = np.array([counts.get(k, 0) / n for k in known])
    new = counts[~counts.index.isin(known)]
    new_rate = float(new.sum() / n)
    ref = np.array([reference["shares"][k] for k in known])
    value_psi = psi(np.append(ref, 0.0), np.append(cur, new_rate))
    ks = float(np.max(np.abs(np.cumsum(np.append(cur, new_rate)) - np.cumsum(np.append(ref, 0.0)))))
    return {
        "kind": "categorical",
        "psi": value_psi,
        "ks": ks,
        "p_value": shift_p_value(
            np.append(ref, 0.0), _present_n(reference), np.append(cur, new_rate), len(present)
        ),
        "median_shift": 0.0,
        "median_direction": 0,
        "median_p_value": 1.0,
        "missing": missing,
        "missing_change": missing - float(reference["missing"]),
        "new_category_rate": new_rate,
        "new_categories": sorted(map(str, new.index))[:10],
        "current_shares": {k: float(v) for k, v in zip(known, cur, strict=True)},
        "n": len(s),
    }


def compare(reference: Mapping, values) -> dict:
    """``compare_numeric`` or ``compare_categorical``, by the reference profile's kind."""
    return (compare_categorical if reference["kind"] == "categorical" else compare_numeric)(
        reference, values
    )


def monitored_features(feature_columns) -> list[str]:
    """The feature columns whose drift means something: calendar columns are the same for every
    customer of a snapshot and differ between any two dates by construction, so they are left
    out."""
    from training.dataset import CALENDAR_COLUMNS

    return [c for c in feature_columns if c not in CALENDAR_COLUMNS]


#: How far back the reference looks for the data's own changes (monthly cutoffs).
VARIATION_MONTHS = 12
#: An earlier month with fewer buyers says little about the variation (PSI of a few hundred
#: customers wobbles).
VARIATION_MIN_BUYERS = 200
VARIATION_STATS = ("psi", "ks", "median_shift")
#: How near a kept month must be to the date it stands for (:func:`seen_variation`).
SAME_SEASON_DAYS = 16


def variation(
    features: Mapping[str, Mapping],
    earlier: pd.DataFrame,
    *,
    cutoff=None,
    current: pd.DataFrame | None = None,
) -> dict:
    """How far each monitored feature of each month before the reference date (``earlier``: its
    buyers, a ``cutoff`` column; months with fewer than :data:`VARIATION_MIN_BUYERS` are left
    out) was from the reference: PSI, KS and median shift, per month.

    With ``cutoff`` (the reference date) and ``current`` (the reference buyers), also how far each
    later month and the reference buyers were from the buyers a year before ``cutoff``
    (``year_before``): the move of the same months a year earlier, from the same starting season
    and base age as the pair's own start. A month a year earlier measured against the reference
    mixes a year of aging with the season (recency that rises every summer, in a base a year
    younger, can land near the reference and tell nothing of the summer's rise)."""
    months = {}
    for day, part in earlier.groupby("cutoff", sort=True):
        if len(part) < VARIATION_MIN_BUYERS:
            continue
        months[str(pd.Timestamp(day).date())] = _distances(features, part)
    found: dict = {"months": months}
    if cutoff is None:
        return found
    start = pd.Timestamp(cutoff) - pd.DateOffset(years=1)
    parts = {pd.Timestamp(d): part for d, part in earlier.groupby("cutoff", sort=True)}
    if current is not None:
        parts[pd.Timestamp(cutoff)] = current
    near = [d for d in parts if abs((d - start).days) <= SAME_SEASON_DAYS]
    if not near:
        return found
    first = min(near, key=lambda d: abs((d - start).days))
    if len(parts[first]) < VARIATION_MIN_BUYERS:
        return found
    base = {name: profile(parts[first][name]) for name in features if name in parts[first]}
    found["year_before"] = {
        "cutoff": str(first.date()),
        "months": {
            str(d.date()): _distances(base, part, signed=True)
            for d, part in sorted(parts.items())
            if d > first and len(part) >= VARIATION_MIN_BUYERS
        },
    }
    return found


def _distances(features: Mapping[str, Mapping], part: pd.DataFrame, signed: bool = False) -> dict:
    """PSI, KS and median shift of ``part`` against each profile; ``signed``: the median shift
    negative when the median fell."""
    found = {}
    for name, ref in features.items():
        if name not in part.columns:
            continue
        stats = compare(ref, part[name])
        found[name] = {k: float(v) if np.isfinite(v := stats[k]) else 0.0 for k in VARIATION_STATS}
        if signed and stats["median_direction"] < 0:
            found[name]["median_shift"] = -found[name]["median_shift"]
    return found


def seen_variation(reference: Mapping, as_of) -> dict[str, dict[str, float]]:
    """Per feature and statistic, how far the data the pair was trained on already moved: from the
    reference to the same season a year before ``as_of`` (seasons), and to as long before the
    reference as ``as_of`` is after it (a base that ages, a pool of lapsed buyers that grows); and
    over the same months a year earlier (from a year before the reference to a year before
    ``as_of``: season and aging together, as they move from the pair's start to ``as_of``); the
    largest. A month counts within :data:`SAME_SEASON_DAYS` of its date; no kept month for any (a
    reference without them, a date more than about a year after the reference): ``{}``."""
    kept = reference.get("variation") or {}
    months = kept.get("months", {})
    lagged = (kept.get("year_before") or {}).get("months", {})
    if not months and not lagged:  # a reference written before the months were kept
        return {}
    day, cutoff = pd.Timestamp(as_of), pd.Timestamp(reference["cutoff"])
    targets = [
        (months, day - pd.DateOffset(years=1)),
        (months, cutoff - (day - cutoff)),
        (lagged, day - pd.DateOffset(years=1)),
    ]
    found = [
        (
            kept_months is lagged,
            kept_months[min(near, key=lambda m: abs((pd.Timestamp(m) - t).days))],
        )
        for kept_months, t in targets
        if (near := [m for m in kept_months if abs((pd.Timestamp(m) - t).days) <= SAME_SEASON_DAYS])
    ]
    seen: dict[str, dict[str, float]] = {}
    for same_lag, month in found:
        for name, stats in month.items():
            mine = seen.setdefault(name, dict.fromkeys(VARIATION_STATS, 0.0))
            for k in VARIATION_STATS:
                if same_lag and k == "median_shift":  # signed: judged against a move that way
                    key = "median_shift_up" if stats[k] > 0 else "median_shift_down"
                    mine[key] = max(mine.get(key, 0.0), abs(stats[k]))
                else:
                    mine[k] = max(mine[k], stats[k])
    return seen


def build_reference(
    frame: pd.DataFrame,
    feature_columns,
    churn_probability,
    predicted_value,
    metrics: Mapping[str, float],
    *,
    cutoff,
    horizons: Mapping[str, int],
    mix: Mapping[str, Mapping[str, float]] | None = None,
    earlier: pd.DataFrame | None = None,
    held_out: tuple[pd.DataFrame, Any] | None = None,
) -> dict:
    """The monitoring reference of a pair from the buyers ``frame`` and their predictions.

    ``metrics`` are the run's metrics (the ``test_`` ones are kept, prefix removed); ``mix`` the
    stage and tier shares of the same customers (``serving.monitor.reference_mix``), if known;
    ``earlier`` the buyers of the months before (a ``cutoff`` column), for :func:`variation`;
    ``held_out`` the held-out buyers (``churned`` and the group columns) and the pair's churn
    probabilities of them, whose per-group calibration
    (``training.group_gaps.group_gaps``) is kept as ``held_out_groups``: the monitor judges a
    group's change from it (None: not kept, as before it was)."""
    features = {
        c: profile(frame[c]) for c in monitored_features(feature_columns) if c in frame.columns
    }
    if AGE_COLUMN in frame.columns:  # what the base's aging alone does to each missing share
        bands = age_bands(frame[AGE_COLUMN])
        for c, kept in features.items():
            kept["missing_by_age"] = missing_by_age(frame[c], bands)
    return {
        "format": REFERENCE_FORMAT,
        "cutoff": str(pd.Timestamp(cutoff).date()),
        "customers": len(frame),
        "horizons": dict(horizons),
        "features": features,
        "variation": None
        if earlier is None
        else variation(features, earlier, cutoff=cutoff, current=frame),
        "scores": {
            "churn_probability": numeric_profile(churn_probability),
            "predicted_value": numeric_profile(predicted_value),
        },
        "mix": {k: dict(v) for k, v in (mix or {}).items()},
        "held_out_groups": None
        if held_out is None
        else group_gaps(held_out[0], held_out[0]["churned"], held_out[1]),
        "metrics": {
            k.removeprefix("test_"): float(v)
            for k, v in metrics.items()
            if k.startswith("test_") and not k.startswith(("test_btyd_", "test_truth_"))
        },
    }


#: What :func:`reference_moves` leaves unsaid: a median that moved less than this (as
#: :func:`median_shift` measures it), a category share that moved fewer points than this.
MOVE_MIN_MEDIAN = 0.05
MOVE_MIN_SHARE = 0.02


def reference_moves(old: Mapping, new: Mapping, top: int = 3) -> list[str]:
    """How the buyers of a new pair's reference differ from those of the pair it replaces, in
    words, largest first: the median of continuous features (as :func:`median_shift` judges
    them), the share of each category. A promotion makes the new reference the monitor's
    baseline, so a change between the two is read as normal from then on; this says what it is."""
    moves: list[tuple[float, str]] = []
    for name, was in (old.get("features") or {}).items():
        now = (new.get("features") or {}).get(name)
        if not now or now.get("kind") != was.get("kind"):
            continue
        if was["kind"] == "numeric":
            before, after = was.get("median_nonzero"), now.get("median_nonzero")
            median_only = {k: v for k, v in was.items() if k != "quartiles_nonzero"}
            shift = median_shift(median_only, np.array([after])) if after is not None else 0.0
            if shift >= MOVE_MIN_MEDIAN:
                moves.append(
                    (
                        shift,
                        f"{name}: median of buyers {before:,.2f} -> {after:,.2f} "
                        f"(x{after / before:.2f})",
                    )
                )
        else:
            shares_before, shares_after = was.get("shares", {}), now.get("shares", {})
            for category in sorted({*shares_before, *shares_after}):
                a, b = shares_before.get(category, 0.0), shares_after.get(category, 0.0)
                if abs(b - a) >= MOVE_MIN_SHARE:
                    moves.append(
                        (
                            abs(b - a) / max(a, b),
                            f"{name} {category!r}: {a:.1%} -> {b:.1%} of buyers",
                        )
                    )
    return [said for _, said in sorted(moves, key=lambda m: -m[0])[:top]]
