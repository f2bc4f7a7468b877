"""The churn + CLV pair as plain files: LightGBM's own model text and JSON, never a pickle.

A pair directory holds everything scoring needs, so one registered model version is one
consistent pair (promoting it is one alias move)::

    meta.json            project, experiment config, test cutoff, feature families, data fingerprint
    scoring.json         scoring thresholds fitted on this pair's test predictions (if any)
    churn/model.json     columns, encoder categories, calibrator, parameters
    churn/booster.txt    LightGBM model text
    clv/model.json       columns, encoder categories, kind, parameters
    clv/<part>.txt       LightGBM model text per booster (value, or buyer and spend)
    clv/intervals.json   conformal ranges of the predicted value (``training.clv_intervals``), if
    fitted

Loading reads these files with ``json`` and ``lightgbm.Booster(model_str=...)``: no stored code
runs. ``_load_pyfunc`` lets MLflow's ``pyfunc`` load the same directory (``loader_module``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd

from training.clv_intervals import ValueIntervals, interval_groups
from training.models import ChurnModel, ClvModel

#: The format a pair is written in: 2 when a model starts from an offset (code that reads only 1
#: would predict from the trees alone, a correction without what it corrects), else 1.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
_MODELS: dict[str, type[ChurnModel] | type[ClvModel]] = {"churn": ChurnModel, "clv": ClvModel}


class BundleError(ValueError):
    """A pair directory that cannot be read; the message names the file."""


@dataclass
class ModelPair:
    """A churn model and a CLV model trained together, with their metadata and scoring
    thresholds."""

    churn: ChurnModel
    clv: ClvModel
    meta: dict
    scoring: dict | None = None
    intervals: ValueIntervals | None = None  # ranges of predicted_value (None: pairs stored before)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``churn_probability`` and ``predicted_value`` per row (and its range, when fitted)."""
        value = self.clv.predict(frame)
        out = pd.DataFrame(
            {"churn_probability": self.churn.predict_proba(frame), "predicted_value": value},
            index=frame.index,
        )
        if self.intervals is not None:
            low, high = self.intervals.predict(value, interval_groups(frame))
            out["predicted_value_low"], out["predicted_value_high"] = low, high
        return out


def save_pair(pair: ModelPair, directory: str | Path) -> Path:
    """Write ``pair`` into ``directory`` (created; must not hold another pair)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with_offset = any(getattr(m, "offset_", None) is not None for m in (pair.churn, pair.clv))
    _write_json(
        directory / "meta.json", {"format": FORMAT_VERSION if with_offset else 1, **pair.meta}
    )
    if pair.scoring is not None:
        _write_json(directory / "scoring.json", pair.scoring)
    for name, model in (("churn", pair.churn), ("clv", pair.clv)):
        state, boosters = model.to_state()
        part = directory / name
        part.mkdir(exist_ok=True)
        digests = {b: hashlib.sha256(t.encode()).hexdigest() for b, t in boosters.items()}
        _write_json(part / "model.json", {**state, "boosters": sorted(boosters), "sha256": digests})
        for booster, text in boosters.items():
            (part / f"{booster}.txt").write_text(text)
    if pair.intervals is not None:
        _write_json(directory / "clv" / "intervals.json", pair.intervals.to_dict())
    return directory


def models_digest(pair: ModelPair) -> str:
    """One digest of what ``pair`` predicts and decides with: both models (boosters, calibration,
    offsets), the value ranges and the scoring thresholds; not its meta (run, dates, monitoring
    reference). Two trainings on the same windows and rows give the same digest."""
    digest = hashlib.sha256()
    for model in (pair.churn, pair.clv):
        state, boosters = model.to_state()
        digest.update(json.dumps(state, sort_keys=True, default=str).encode())
        for name in sorted(boosters):
            digest.update(boosters[name].encode())
    ranges = pair.intervals.to_dict() if pair.intervals is not None else None
    for part in (ranges, pair.scoring):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def load_pair(directory: str | Path) -> ModelPair:
    """Read a pair written by ``save_pair``."""
    directory = Path(directory)
    meta = read_json(directory / "meta.json")
    if meta.get("format") not in READABLE_FORMATS:
        raise BundleError(
            f"{directory / 'meta.json'}: format {meta.get('format')!r}, this code reads "
            f"{' and '.join(map(str, READABLE_FORMATS))}; retrain with `lifecycle train`"
        )
    models: dict[str, Any] = {}
    for name, cls in _MODELS.items():
        state_path = directory / name / "model.json"
        state = read_json(state_path)
        digests = state.pop("sha256", {})  # pairs saved before digests have none
        boosters = {}
        for booster in state.pop("boosters", []):
            path = directory / name / f"{booster}.txt"
            boosters[booster] = read_booster(path, digests.get(booster))
        try:
            models[name] = cls.from_state(state, boosters)
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
            raise BundleError(f"{state_path}: not a model this code wrote ({exc!r})") from exc
    scoring_path = directory / "scoring.json"
    scoring = read_json(scoring_path) if scoring_path.exists() else None
    intervals_path = directory / "clv" / "intervals.json"
    intervals = None
    if intervals_path.exists():
        try:
            intervals = ValueIntervals.from_dict(read_json(intervals_path))
        except ValueError as exc:
            raise BundleError(f"{intervals_path}: {exc}") from exc
    return ModelPair(models["churn"], models["clv"], meta, scoring, intervals)


def read_booster(path: Path, sha256: str | None) -> str:
    """The text of a saved LightGBM model, checked (:func:`check_booster_text`) before any
    LightGBM reads it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: cannot read the LightGBM model: {exc}") from exc
    check_booster_text(path, text, sha256)
    return text


def check_booster_text(path: Path, text: str, sha256: str | None) -> None:
    """Refuse a damaged LightGBM model file before LightGBM reads it: a truncated one makes its
    C++ loader abort the whole process (no Python error to catch). Checked: the digest saved
    with it, when there is one; the sections LightGBM writes (one per tree, then the ends)."""
    if sha256 is not None and hashlib.sha256(text.encode()).hexdigest() != sha256:
        raise BundleError(
            f"{path}: the LightGBM model is damaged (its content does not match the digest saved "
            "with it); register a new version (`lifecycle train`, `--force` past a damaged "
            "champion)"
        )
    sizes = next((line for line in text.splitlines() if line.startswith("tree_sizes=")), None)
    trees = text.count("\nTree=")
    listed = trees if sizes is None else len(sizes.split("=", 1)[1].split())  # LightGBM < 2.1
    if listed != trees or "\nend of trees" not in text:
        raise BundleError(
            f"{path}: the LightGBM model is damaged or truncated ({trees} trees, its header "
            "lists another number or its end is missing); register a new version (`lifecycle "
            "train`, `--force` past a damaged champion)"
        )


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))


def read_json(path: Path) -> dict:
    """A bundle's JSON file; a missing or damaged one is a :class:`BundleError` naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # a cut file, one not in UTF-8
        raise BundleError(f"{path}: {exc}") from exc


class PairPyfunc:
    """What ``mlflow.pyfunc.load_model`` returns for a pair: feature frame in, both outputs out."""

    def __init__(self, pair: ModelPair):
        self.pair = pair

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.pair.predict(model_input)


def _load_pyfunc(data_path: str) -> PairPyfunc:
    """MLflow's ``loader_module`` entry point (code from this package, data from the store)."""
    return PairPyfunc(load_pair(data_path))
