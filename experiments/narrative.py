"""What a comparison says, in a few plain sentences computed from its numbers (report and CLI)."""

from __future__ import annotations

import math

from experiments.compare import Comparison, join_names, target_key, target_of
from experiments.metric_specs import METRIC_BY_COLUMN
from experiments.noise import NoiseCheck, shown_digits
from experiments.runs import RunRecord

#: The columns the sentences talk about: one for churn, one for customer value.
HEADLINE_COLUMNS = ("churn_auc", "clv_gini")


def what_this_says(comparison: Comparison, reference: str | None = None) -> list[str]:
    """The best per headline column among the runs comparable with ``reference`` (default
    ``baseline`` or the first run), each of them against it, the runs measured on another target,
    the winner against BG/NBD, calibration and total, and the warnings; for uplift runs, the best
    ranking per action and outcome against random targeting."""
    from experiments.uplift_table import uplift_sentences

    uplift = {n: r for n, r in comparison.runs.items() if r.kind == "uplift"}
    sentences = uplift_sentences(uplift) if uplift else []
    sentences += [s for column in HEADLINE_COLUMNS if (s := _best_sentence(comparison, column))]
    reference = reference or comparison.reference
    comparable = comparison.comparable(reference)
    sentences += [
        s for experiment in comparable
        if experiment != reference and (s := _versus_sentence(comparison, experiment, reference))
    ]  # fmt: skip
    optional = (
        _other_targets_sentence(comparison, reference),
        _btyd_sentence(comparison),
        _calibration_sentence(comparison),
    )
    sentences += [s for s in optional if s]
    if comparison.warnings:
        sentences.append("Read with care: " + "; ".join(comparison.warnings) + ".")
    return sentences


def _other_targets_sentence(comparison: Comparison, reference: str) -> str | None:
    """The runs not ranked against ``reference``: their numbers answer another question."""
    others = [e for e in comparison.runs if e not in comparison.comparable(reference)]
    others = [e for e in others if comparison.runs[e].kind != "uplift"]
    if not others:
        return None
    ref = comparison.runs[reference]
    described = "; ".join(f"{e}: {_target_text(comparison.runs[e], ref)}" for e in others)
    return (
        f"Measured on another target than {reference} ({_target_text(comparison.runs[reference])})"
        f", so not ranked against it: {described}; the table marks the best among runs on the "
        "same target."
    )


def _target_text(run: RunRecord, reference: RunRecord | None = None) -> str:
    data, cutoffs, horizon = target_of(run)
    parts = (("data set ", data), ("test cutoff ", cutoffs), ("over ", horizon))
    text = ", ".join(f"{what}{value}" for what, value in parts if value) or "target unknown"
    if reference is not None and target_of(reference) == target_of(run):
        # named, tested and labelled alike: only the customers or outcomes tell them apart
        mine, theirs = target_key(run)[-1], target_key(reference)[-1]
        text += f", but other test customers or outcomes (test data {mine}, not {theirs})"
    return text


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _best_sentence(comparison: Comparison, column: str) -> str | None:
    """``Best churn AUC: x (0.939), but y is within noise of it.``"""
    winner = comparison.best.get(column)
    if winner is None:
        return None
    spec = METRIC_BY_COLUMN[column]
    flags = comparison.noise_flags
    group = comparison.comparable(winner)
    others = [e for e in group if e != winner and (e, column) in flags]
    tied = [e for e in others if flags[(e, column)].method == "tie"]
    others = [e for e in others if e not in tied]
    close = [e for e in others if comparison.within_noise(e, column)]
    unchecked = [e for e in others if flags[(e, column)].within_noise is None]
    text = f"Best {spec.label}: {winner} ({_fmt(comparison.table.at[winner, column], spec.digits)})"
    if tied:
        text += f", tied with {join_names(tied)}"
    if not others:
        return text + "."
    if close:
        verb = "is" if len(close) == 1 else "are"
        return text + f", but {join_names(close)} {verb} within noise of it."
    if unchecked:
        return text + f"; the gap to {join_names(unchecked)} could not be checked against noise."
    same = " on the same target" if len(comparison.groups) > 1 else ""
    return text + f", ahead of every other experiment{same} beyond noise."


def _versus_sentence(comparison: Comparison, experiment: str, reference: str) -> str | None:
    """``x vs baseline: churn AUC +0.045 (95% interval ...), better beyond noise; ...``"""
    parts = [
        part for column in HEADLINE_COLUMNS
        if (part := _versus_part(comparison, experiment, reference, column))
    ]  # fmt: skip
    if not parts:
        return None
    return f"{experiment} vs {reference}: " + "; ".join(parts) + "."


def _versus_part(
    comparison: Comparison, experiment: str, reference: str, column: str
) -> str | None:
    table, spec = comparison.table, METRIC_BY_COLUMN[column]
    delta = table.at[experiment, column] - table.at[reference, column]
    if not math.isfinite(delta):
        return None
    check = comparison.check(experiment, reference, column)
    ahead = spec.score(table.at[experiment, column]) > spec.score(table.at[reference, column])
    interval = (
        ""
        if check.method in ("tie", "unavailable")
        else f" ({1 - comparison.alpha:.0%} interval {_bounds(check.low, check.high)})"
    )
    return f"{spec.label} {delta:+.3f}{interval}, {_verdict(check, ahead)}"


def _bounds(low: float, high: float) -> str:
    d = shown_digits((low, high))
    return f"{low:+.{d}f} to {high:+.{d}f}"


def _verdict(check: NoiseCheck, ahead: bool) -> str:
    if check.within_noise is None:
        return "not checked against noise"
    if check.method == "tie":
        return "the same"
    if check.within_noise:
        return "within noise"
    return "better beyond noise" if ahead else "worse beyond noise"


def _btyd_sentence(comparison: Comparison) -> str | None:
    """The churn winner's LightGBM (a lone run's) against BG/NBD + Gamma-Gamma on its own test
    customers."""
    alone = comparison.reference if len(comparison.runs) == 1 else None
    winner = comparison.best.get("churn_auc", alone)
    if winner is None:
        return None
    parts = []
    for column in HEADLINE_COLUMNS:
        check = comparison.against_btyd(winner, column)
        btyd = comparison.runs[winner].metrics.get(f"test_btyd_{column}", float("nan"))
        if check is None or not math.isfinite(btyd):  # "0.800 vs n/a (within noise)" says nothing
            continue
        model = _fmt(comparison.table.at[winner, column], 3)
        parts.append(f"{METRIC_BY_COLUMN[column].label} {model} vs {_fmt(btyd, 3)} "
                     f"({_btyd_verdict(check)})")  # fmt: skip
    if not parts:
        return None
    return (
        f"Against the BG/NBD + Gamma-Gamma baseline on {winner}'s test customers: "
        + "; ".join(parts)
        + "."
    )


def _btyd_verdict(check: NoiseCheck) -> str:
    if check.within_noise:
        return "within noise"
    return "LightGBM ahead beyond noise" if check.difference > 0 else "BG/NBD ahead beyond noise"


def _calibration_sentence(comparison: Comparison) -> str | None:
    ratio, brier = comparison.best.get("clv_total_ratio"), comparison.best.get("churn_brier")
    if not (ratio and brier):
        return None
    return (
        f"Best calibrated churn probabilities (Brier): {brier}; total predicted value closest to "
        f"the actual total: {ratio} (ratio "
        f"{_fmt(comparison.table.at[ratio, 'clv_total_ratio'], 3)})."
    )
