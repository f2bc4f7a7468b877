"""Plans of a backtest and of its pseudo-backtest: the training horizon and the cutoffs.

The training snapshots are weekly, with labels over a shorter horizon ``h`` (about a third of
``H``, :func:`train_horizon`) whose windows all end by the cutoff (:func:`plan_backtest`). A
fitting cutoff before any customer bought twice is left out with a note
(:func:`with_repeat_buyers`: BTYD learns nothing there). The pseudo-backtest
(:func:`pseudo_backtest_plan`) checks the extension from ``h`` to ``H`` on a window that ends by
the cutoff: the latest one, or the same season a year earlier when the base has a seasonality.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from training.config import ExperimentConfig
from training.seasonality import NO_SEASONALITY, Seasonality
from training.splits import CutoffPlan, PlanError, plan_cutoffs

#: The pseudo-backtest's ratio H'/h' may differ from the backtest's H/h by this share at most.
RATIO_TOLERANCE = 0.25

#: A training snapshot needs this much history (12 weeks: every customer of a cohort acquired over
#: a quarter has been seen, and has had a chance to repeat). Evidence: docs/results.md.
MIN_HISTORY_DAYS = 84

#: With a purchase seasonality, the pseudo-backtest starts this many days (52 weeks) before the
#: cutoff: its window lies in the backtest window's season, so the recalibration and the ranges
#: fitted there carry no other season's level. Evidence: docs/results.md, "Calibrated in the
#: same season a year earlier".
SEASON_LAG_DAYS = 364


def train_horizon(cfg: ExperimentConfig, horizon_days: int, history_days: int) -> int:
    """The label horizon ``h`` of the training snapshots, in whole weeks.

    About a third of ``H`` (so that the extension from ``h`` to ``H`` stays moderate), at most the
    config's value horizon, and short enough that a training window, a validation window and
    :data:`MIN_HISTORY_DAYS` of history fit before the cutoff.
    """
    weeks = max(1, round(horizon_days / 21))
    room = max(7, (history_days - MIN_HISTORY_DAYS) // 2)
    return int(max(1, min(horizon_days, cfg.labels.value_horizon_days, 7 * weeks, room)))


@dataclass(frozen=True)
class BacktestPlan:
    """Cutoffs of a backtest: ``select`` (train/valid, early stopping) and ``refit`` (final fit)."""

    cutoff: date
    horizon_days: int
    train_horizon_days: int
    select: CutoffPlan
    refit: tuple[date, ...]
    #: Fitting cutoffs left out: nobody had bought twice before them (:func:`with_repeat_buyers`).
    dropped: tuple[date, ...] = ()

    def check(self) -> None:
        """Raise if a label window used for fitting or selection reaches a later split."""
        self.select.check()
        h = timedelta(days=self.train_horizon_days)
        late = [c for c in self.refit if c + h > self.cutoff]
        if late:
            raise ValueError(
                f"refit cutoff {late[0]} + {self.train_horizon_days} days reaches {self.cutoff}"
            )


def plan_backtest(
    data_start: date, cutoff: date, horizon_days: int, cfg: ExperimentConfig
) -> BacktestPlan:
    """Training horizon and cutoffs for a backtest at ``cutoff``: select on train -> valid,
    refit on every weekly snapshot whose label window ends by the cutoff."""
    if cutoff <= data_start:
        raise PlanError(
            f"cutoff {cutoff} is not after the data's first day {data_start}: a backtest learns "
            "from the history before its cutoff; use a later cutoff"
        )
    h = train_horizon(cfg, horizon_days, (cutoff - data_start).days)
    step = max(1, min(cfg.snapshots.step_days, h))
    select = plan_cutoffs(
        data_start,
        cutoff + timedelta(days=h),
        h,
        cfg.snapshots.n_train,
        step,
        test_cutoff=cutoff,
        min_history_days=min(MIN_HISTORY_DAYS, (cutoff - data_start).days - 2 * h),
    )
    refit, day = set(select.train), select.valid
    while day >= min(select.train):  # every step back from the validation cutoff
        refit.add(day)
        day -= timedelta(days=step)
    plan = BacktestPlan(cutoff, int(horizon_days), h, select, tuple(sorted(refit)))
    plan.check()
    return plan


def with_repeat_buyers(plan: BacktestPlan, repeats_from: date | None) -> BacktestPlan | None:
    """``plan`` without its fitting cutoffs before ``repeats_from``
    (``training.dataset.first_repeat_cutoff``: no customer had bought twice before them, so
    BG/NBD + Gamma-Gamma, the models' offset, learn nothing there), named in ``dropped``. None
    when the validation cutoff is one of them, or no training cutoff remains, or nobody ever
    bought twice (``repeats_from`` None)."""
    if repeats_from is None or plan.select.valid < repeats_from:
        return None
    train = tuple(c for c in plan.select.train if c >= repeats_from)
    if not train:
        return None
    refit = tuple(c for c in plan.refit if c >= repeats_from)
    dropped = tuple(sorted({*plan.select.train, *plan.refit} - {*train, *refit}))
    if not dropped:
        return plan
    select = dataclasses.replace(plan.select, train=train)
    return dataclasses.replace(plan, select=select, refit=refit, dropped=dropped)


def dropped_note(plan: BacktestPlan, what: str) -> str | None:
    """What a run says of the cutoffs :func:`with_repeat_buyers` left out of ``plan`` (None when
    it left out none)."""
    if not plan.dropped:
        return None
    names = ", ".join(str(c) for c in plan.dropped)
    return (
        f"{len(plan.dropped)} {what} cutoff(s) left out ({names}): no customer had bought twice "
        "before them, and BG/NBD + Gamma-Gamma (the baseline and the models' offset) learn from "
        "repeat purchases"
    )


def no_repeats_error(plan: BacktestPlan, repeats_from: date | None) -> PlanError:
    """Why a backtest's own plan cannot be fitted: its validation cutoff, or every training
    cutoff, comes before any customer bought twice."""
    if repeats_from is None:
        return PlanError(
            "no customer bought on two days in the data (a purchase being an order with an "
            "amount above 0): BG/NBD + Gamma-Gamma (the baseline and the models' offset) learn "
            "from repeat purchases; check that the order dates, amounts and customer ids were read"
        )
    late = max(plan.select.valid, min(plan.select.train))
    return PlanError(
        f"no customer had bought twice before {late} (the first did on "
        f"{repeats_from - timedelta(days=1)}), a cutoff the backtest fits on (training from "
        f"{min(plan.select.train)}, validation {plan.select.valid}): BG/NBD + Gamma-Gamma (the "
        "baseline and the models' offset) learn from repeat purchases; use a cutoff at least "
        f"{(repeats_from - min(plan.select.train)).days} days later, or a shorter --horizon-days"
    )


def pseudo_backtest_plan(
    data_start: date,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    season: Seasonality = NO_SEASONALITY,
    repeats_from: date | None = date.min,
) -> BacktestPlan | None:
    """The plan of the pseudo-backtest that checks a backtest's extension before the cutoff.

    The longest horizon ``H'`` <= ``H`` (``H``, else whole weeks) whose pseudo-cutoff leaves room
    for a plan (:func:`plan_backtest`) and whose training horizon keeps the backtest's ratio
    ``H/h`` within :data:`RATIO_TOLERANCE`. Its outcome window ends by the cutoff. The
    pseudo-cutoff is ``cutoff - H'`` (the latest window), or, when ``season`` found a purchase
    seasonality before the cutoff and ``H`` is at most a year, :data:`SEASON_LAG_DAYS` before the
    cutoff (the same season a year earlier) if the history holds that window with at least half
    the latest window's ``H'``. Its fitting cutoffs before ``repeats_from`` (the first with a
    customer who bought twice, ``training.dataset.first_repeat_cutoff``; None: nobody did) are
    left out (:func:`with_repeat_buyers`), and a horizon whose validation cutoff or every
    training cutoff is one of them does not fit. None when no horizon of at least two weeks fits.
    """
    latest = _pseudo_plan(
        data_start, cutoff, horizon_days, cfg, lambda h: cutoff - timedelta(h), repeats_from
    )
    if season.found and horizon_days <= SEASON_LAG_DAYS:
        a_year_earlier = _pseudo_plan(
            data_start,
            cutoff,
            horizon_days,
            cfg,
            lambda h: cutoff - timedelta(SEASON_LAG_DAYS),
            repeats_from,
        )
        if a_year_earlier is not None and (
            latest is None or 2 * a_year_earlier.horizon_days >= latest.horizon_days
        ):
            return a_year_earlier
    return latest


def _pseudo_plan(
    data_start: date,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    start_of: Callable[[int], date],
    repeats_from: date | None = date.min,
) -> BacktestPlan | None:
    """:func:`pseudo_backtest_plan` with the pseudo-cutoff ``start_of(H')``."""
    ratio = horizon_days / train_horizon(cfg, horizon_days, (cutoff - data_start).days)
    candidates = [horizon_days] + list(range(7 * (horizon_days // 7), 13, -7))
    for pseudo_h in dict.fromkeys(c for c in candidates if 14 <= c <= horizon_days):
        pseudo_cutoff = start_of(pseudo_h)
        if pseudo_cutoff + timedelta(days=pseudo_h) > cutoff:
            continue
        history = (pseudo_cutoff - data_start).days
        if history <= MIN_HISTORY_DAYS // 2:
            continue
        h = train_horizon(cfg, pseudo_h, history)
        if abs(pseudo_h / h - ratio) > RATIO_TOLERANCE * ratio:
            continue
        try:
            plan = plan_backtest(data_start, pseudo_cutoff, pseudo_h, cfg)
        except ValueError:  # PlanError included: not enough history
            continue
        if (supported := with_repeat_buyers(plan, repeats_from)) is not None:
            return supported
    return None


def pseudo_window(pseudo: BacktestPlan, cutoff: date, season: Seasonality) -> str:
    """``same_season`` when the base has a seasonality and the pseudo-backtest starts
    :data:`SEASON_LAG_DAYS` before ``cutoff`` (:func:`pseudo_backtest_plan`), else ``latest``."""
    lag = (cutoff - pseudo.cutoff).days
    return "same_season" if season.found and lag == SEASON_LAG_DAYS else "latest"
