"""Time-based splits of snapshot cutoffs: train < validation < test, label windows never overlap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


class PlanError(ValueError):
    """The data cannot hold the asked-for cutoffs and horizons."""


@dataclass(frozen=True)
class CutoffPlan:
    """Cutoffs per split and the label horizon they were planned for."""

    train: tuple[date, ...]
    valid: date
    test: date
    horizon_days: int
    dropped: int = 0  # training cutoffs asked for that fell before the data had enough history
    #: Cutoffs of the final fit (empty: the models fitted on ``train`` are final): the training
    #: layout moved one horizon later, up to the validation cutoff, so that its label windows
    #: end by the test cutoff.
    refit: tuple[date, ...] = ()

    def all(self) -> list[date]:
        return sorted({*self.train, *self.refit, self.valid, self.test})

    def split_of(self, cutoff: date) -> str:
        """The split a cutoff's rows belong to: ``refit`` only for cutoffs in no other split."""
        if cutoff == self.test:
            return "test"
        if cutoff == self.valid:
            return "valid"
        if cutoff in self.train:
            return "train"
        if cutoff in self.refit:
            return "refit"
        raise KeyError(f"cutoff {cutoff} is not in the plan")

    def check(self) -> None:
        """Raise if a training or validation label window reaches a later split's cutoff."""
        h = timedelta(days=self.horizon_days)
        if max(self.train) + h > self.valid:
            raise ValueError(
                f"training cutoff {max(self.train)} + {self.horizon_days} days reaches the "
                f"validation cutoff {self.valid}"
            )
        if self.valid + h > self.test:
            raise ValueError(
                f"validation cutoff {self.valid} + {self.horizon_days} days reaches the test "
                f"cutoff {self.test}"
            )
        if self.refit and max(self.refit) + h > self.test:
            raise ValueError(
                f"refit cutoff {max(self.refit)} + {self.horizon_days} days reaches the test "
                f"cutoff {self.test}"
            )


def plan_cutoffs(
    data_start: date,
    data_end: date,
    horizon_days: int,
    n_train: int,
    step_days: int,
    test_cutoff: date | None = None,
    min_history_days: int = 60,
    refit: bool = False,
) -> CutoffPlan:
    """Plan cutoffs back from the test cutoff.

    ``data_end`` is the first day with no data (exclusive). The test cutoff defaults to the latest
    first-of-month whose label window ``[T, T+H)`` is inside the data. Validation is one horizon
    earlier, the last training cutoff one horizon before validation, then every ``step_days`` back.
    Training cutoffs with less than ``min_history_days`` of history are dropped (the plan's
    ``dropped`` counts them, for the caller to say). With ``refit``, the plan also holds the
    cutoffs of a final fit: the training cutoffs moved one horizon later (the last is the
    validation cutoff; their label windows end by the test cutoff).
    """
    h = timedelta(days=horizon_days)
    if test_cutoff is None:
        latest = data_end - h
        test_cutoff = date(latest.year, latest.month, 1)
    if test_cutoff + h > data_end:
        raise PlanError(
            f"test cutoff {test_cutoff} + {horizon_days} days goes past the end of the data "
            f"({data_end})"
        )
    valid = test_cutoff - h
    last_train = valid - h
    train = [last_train - timedelta(days=step_days * i) for i in range(n_train)]
    train = sorted(t for t in train if (t - data_start).days >= min_history_days)
    if not train:
        need = (data_end - last_train).days + min_history_days
        raise PlanError(
            f"not enough history for training: the last training cutoff would be {last_train}, "
            f"data start {data_start}, horizon {horizon_days} days (training needs {need} days "
            f"of data at this horizon, the data holds {(data_end - data_start).days}); shorten "
            "labels.churn_horizon_days and labels.value_horizon_days in the experiment YAML (or "
            "`lifecycle train --churn-horizon-days N --value-horizon-days N`), or bring more data"
        )
    plan = CutoffPlan(
        train=tuple(train),
        valid=valid,
        test=test_cutoff,
        horizon_days=horizon_days,
        dropped=n_train - len(train),
        refit=tuple(t + h for t in train) if refit else (),
    )
    plan.check()
    return plan
