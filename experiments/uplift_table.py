"""The comparison of uplift runs: Qini and policy value per action, outcome and ranking.

Uplift runs (``lifecycle uplift``, tag ``kind=uplift``) log no ``test_*`` metrics; they log one
metric per number of their tables (``training.uplift_run.log_to_mlflow``):
``<action>.<outcome>.<model>.<column>`` for the Qini table (``qini``, ``qini_lo``, ``qini_hi``,
``uplift_20``) and ``policy.<action>.<outcome>.<model>.<column>`` for the value of contacting the
budget's share of customers (``true`` when the data hold the truth, ``estimated``, with ``_lo`` and
``_hi``). This module reads those names back, so comparing uplift runs needs no artifact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from experiments.runs import RunRecord
from training.uplift_metrics import POLICY_METRICS

QINI_COLUMNS = ("qini", "qini_lo", "qini_hi", "uplift_20")
POLICY_COLUMNS = POLICY_METRICS
KEYS = ["experiment", "action", "outcome", "model"]
BEST_MARK = "*"
LEGEND = (
    (
        f"{BEST_MARK} highest Qini per action and outcome (the extra outcome a ranking captures "
        "over random targeting, held-out customers; 95% bootstrap interval)"
    ),
    (
        "uplift@20%: contacted minus control outcome among the top 20% of the ranking; gain: "
        "value of contacting the budget's share of customers by that ranking"
    ),
)


def uplift_rows(runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """One row per experiment, action, outcome and ranking with the Qini and policy numbers
    logged for it (NaN where one was not); empty when no run logged any."""
    cells: dict[tuple[str, str, str, str], dict[str, float]] = {}
    for experiment, run in runs.items():
        for name, value in run.metrics.items():
            policy = name.startswith("policy.")
            parts = name.removeprefix("policy.").rsplit(".", 3)
            if len(parts) != 4 or parts[3] not in (POLICY_COLUMNS if policy else QINI_COLUMNS):
                continue
            action, outcome, model, column = parts
            cells.setdefault((experiment, action, outcome, model), {})[column] = value
    columns = [*KEYS, *QINI_COLUMNS, *POLICY_COLUMNS]
    if not cells:
        return pd.DataFrame(columns=columns)
    rows = [dict(zip(KEYS, key, strict=True)) | values for key, values in cells.items()]
    order = {e: i for i, e in enumerate(runs)}
    frame = pd.DataFrame(rows).reindex(columns=columns)
    return frame.sort_values(
        ["experiment", "action", "outcome", "model"],
        key=lambda s: s.map(order) if s.name == "experiment" else s,
        ignore_index=True,
    )


def qini_digits(outcome: str) -> int:
    """Decimals of a Qini or uplift: a retention rate takes 4, a spend per customer 3."""
    return 4 if outcome == "retained" else 3


def interval_text(row: pd.Series, name: str, digits: int) -> str:
    """``value [low, high]`` from the row's ``name``, ``name_lo`` and ``name_hi`` (``-`` when
    there is no value, the value alone when there is no interval)."""
    value = row.get(name)
    if value is None or pd.isna(value):
        return "-"
    low, high = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if low is None or pd.isna(low):
        return f"{value:,.{digits}f}"
    return f"{value:,.{digits}f} [{low:,.{digits}f}, {high:,.{digits}f}]"


def contacts_text(row: pd.Series) -> str:
    """The customers a gain is for (its budget), ``-`` where a run did not log it."""
    n = row.get("contacts")
    return "-" if n is None or pd.isna(n) else f"{int(n):,}"


def best_qini(rows: pd.DataFrame) -> pd.DataFrame:
    """The row with the highest Qini per action and outcome (over experiments and the rankings
    one can deploy: not the oracle ranking by the true effect, nor treating everyone, the
    baseline whose Qini is 0 by definition, which would be 'best' whenever every ranking's
    point estimate is below 0)."""
    from training.uplift_run import ORACLE, TREAT_EVERYONE

    ranked = rows.dropna(subset=["qini"])
    ranked = ranked[~ranked["model"].isin([ORACLE, TREAT_EVERYONE])]
    return ranked.loc[ranked.groupby(["action", "outcome"], sort=False)["qini"].idxmax()]


def format_uplift_table(runs: Mapping[str, RunRecord]) -> str:
    """Plain-text table of the uplift runs; ``*`` marks the best Qini per action and outcome."""
    rows = uplift_rows(runs)
    if rows.empty:
        return (
            "no Qini or policy value logged by "
            + ", ".join(runs)
            + ": rerun with `lifecycle uplift --data DIR`"
        )
    best = set(best_qini(rows).index)
    with_truth = int(rows["true"].notna().any())
    header = ["experiment", "action", "outcome", "model", "qini [95% CI]", "uplift@20%"]
    header += ["contacts"] + ["true gain [95% CI]"] * with_truth + ["estimated gain [95% CI]"]
    table = []
    for i, r in rows.iterrows():
        digits = qini_digits(r["outcome"])
        qini = interval_text(r, "qini", digits) + (BEST_MARK if i in best else " ")
        uplift = "-" if pd.isna(r["uplift_20"]) else f"{r['uplift_20']:.{digits}f}"
        gains = [interval_text(r, "true", 1)] * with_truth + [interval_text(r, "estimated", 1)]
        table.append(
            [r["experiment"], r["action"], r["outcome"], r["model"], qini, uplift]
            + [contacts_text(r), *gains]
        )
    widths = [max(len(h), *(len(t[c]) for t in table)) for c, h in enumerate(header)]
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("-" * len(lines[0]))
    lines += [
        "  ".join(f"{t:<{w}}" for t, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    return "\n".join(
        [
            *lines,
            "",
            *LEGEND,
            "runs: " + ", ".join(_run_label(n, r) for n, r in runs.items()),
        ]
    )


def _run_label(name: str, run: RunRecord) -> str:
    """``name run-id``, with the run's kind when the name does not already say it."""
    kind = run.kind or "?"
    return f"{name} {run.run_id[:8]}" if name == kind else f"{name} {kind} {run.run_id[:8]}"


def _verdict(r: pd.Series) -> str:
    low, high = r["qini_lo"], r["qini_hi"]
    if math.isfinite(low) and low > 0:
        return "ranks better than random (the interval is above 0)"
    if math.isfinite(high) and high < 0:
        return "ranks worse than random (the interval is below 0)"
    if math.isfinite(low):
        return "cannot be told apart from random targeting (the interval contains 0)"
    return "has no interval to tell it from random"


def uplift_sentences(runs: Mapping[str, RunRecord]) -> list[str]:
    """Per action and outcome: the best ranking by Qini and whether it is told from random; when
    it was picked among several on the same customers, that this flatters it, and what the
    ranking the run deploys (``selected``, the one its evidence gate judged) says."""
    from training.uplift_run import ORACLE, SELECTED, TREAT_EVERYONE

    rows = uplift_rows(runs)
    if rows.empty:
        return []
    sentences = []
    several = len(runs) > 1
    for _, r in best_qini(rows).iterrows():
        where = f" ({r['experiment']})" if several else ""
        digits = qini_digits(r["outcome"])
        same = rows[
            (rows["experiment"] == r["experiment"])
            & (rows["action"] == r["action"])
            & (rows["outcome"] == r["outcome"])
            & rows["qini"].notna()
        ]
        # the rankings the run measured on its held-out customers: not the oracle, the copy of
        # one of them it deploys, or treating everyone (Qini 0 by definition)
        rankings = same[~same["model"].isin([ORACLE, SELECTED, TREAT_EVERYONE])]
        said = (
            f"{r['action']}, {r['outcome']}: best Qini {interval_text(r, 'qini', digits)} "
            f"by {r['model']}{where}, which {_verdict(r)}"
        )
        if r["model"] != SELECTED and len(rankings) > 1:
            said += (
                f"; the best of {len(rankings)} rankings measured on the same customers, which "
                "flatters it"
            )
        deployed = same[(same["experiment"] == r["experiment"]) & (same["model"] == SELECTED)]
        if r["model"] != SELECTED and not deployed.empty:
            d = deployed.iloc[0]
            said += (
                f". The ranking the run deploys ({SELECTED}, the one its evidence gate judged): "
                f"Qini {interval_text(d, 'qini', digits)}, which {_verdict(d)}"
            )
        sentences.append(said + ".")
    return sentences
