"""``lifecycle monitor`` end to end: the champion pair and its reference, the score history, the
checks (``serving.monitor``), the JSON and HTML report, and their MLflow run against the version."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from features.atomic_file import write_texts_atomic
from serving.monitor import MonitorResult, monitor
from serving.monitor_config import MonitorConfig
from serving.score_history import dates, read_partition, write_partition
from training.reference import REFERENCE_ARTIFACT

MONITOR_EXPERIMENT = "monitor"


class NoReference(LookupError):
    """The champion pair was trained before references were kept."""


def score_into_history(
    data_dir: str | Path,
    day: date,
    champions,
    history_root: str | Path,
    progress: bool = False,
    snapshot: pd.DataFrame | None = None,
    log=None,
):
    """Score every customer as of ``day`` with ``champions`` and keep the scores and features
    (``snapshot``: the feature snapshot of ``data_dir`` at ``day``, when already built); ``log``
    is given the tier hold's line (how many customers kept their tier, or why none did)."""
    from serving.batch import feature_snapshot, score_snapshot

    if snapshot is None:
        snapshot = feature_snapshot(data_dir, day, champions, progress=progress)
    scores = score_snapshot(snapshot, champions, day)
    from serving.action_hold import held_scores
    from serving.config import stored_scoring_config

    scores, said = held_scores(
        scores,
        snapshot,
        stored_scoring_config(champions.scoring),
        history_root,
        champions.project,
        day,
    )
    if log is not None:
        log(said)
    write_partition(history_root, champions.project, day, scores, snapshot)
    return scores, snapshot


def _same_features(kept: pd.DataFrame, now: pd.DataFrame) -> bool:
    """Whether the feature snapshot kept for a day is ``now``, the one the data gives (same
    customers, same values up to float noise)."""
    columns = [c for c in now.columns if c in kept.columns]
    if len(now) != len(kept) or len(columns) != len(now.columns):
        return False
    a = now[columns].sort_values("customer_id", ignore_index=True)
    b = kept[columns].sort_values("customer_id", ignore_index=True)
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)
    except AssertionError:
        return False
    return True


def run_monitor(
    *,
    data_dir: str | Path,
    as_of: date | None,
    project: str,
    tracking_uri: str,
    history_root: str | Path,
    out_dir: str | Path,
    cfg: MonitorConfig | None = None,
    log=print,
) -> tuple[MonitorResult, dict[str, Path]]:
    """Monitor ``project``'s champion as of ``as_of`` (default: the data's end). The date is scored
    first when the history lacks it. Writes ``monitor.json`` and ``monitor.html`` into ``out_dir``
    and logs both to MLflow (experiment ``<project>/monitor``, tagged with the model version)."""
    from serving.batch import feature_snapshot, load_champions
    from serving.monitor_report import render_html
    from training.dataset import check_window, data_bounds, export_warnings

    cfg = cfg or MonitorConfig()
    champions = load_champions(tracking_uri, project)
    _close_killed_runs(tracking_uri, log)
    reference = champions.meta.get("monitor_reference")
    if not reference:
        raise NoReference(
            f"project {project!r}: champion pair v{champions.version} has no monitoring "
            f"reference ({REFERENCE_ARTIFACT}); retrain it with `lifecycle train`"
        )
    bounds = data_bounds(data_dir)
    data_end = bounds[1]
    as_of = as_of or data_end
    for said in export_warnings(data_dir, as_of, data_end):
        log(said)
    if warning := check_window(bounds, as_of, None, "--as-of"):  # as `lifecycle score` says
        log(f"{warning} (its drift and realized performance measure that gap)")
    fresh = as_of not in dates(history_root, project)
    if fresh:
        log(f"scoring {project} as of {as_of} into the history ({history_root})")
        score_into_history(data_dir, as_of, champions, history_root, log=log)
    # never so short that no kept date's value horizon can have passed
    value_days = champions.clv_config.labels.value_horizon_days
    oldest = as_of - timedelta(days=max(cfg.performance.lookback_days, value_days))
    history = {
        d: read_partition(history_root, project, d)
        for d in dates(history_root, project)
        if oldest <= d <= as_of
    }
    # Drift is the champion's on this data: the drift date is rescored when another version
    # wrote it, or when it was scored from other data (a corrected re-export with the same end,
    # another data set under the project's name): its features are not what the data gives now.
    if set(history[as_of][0]["churn_model_version"].astype(str)) != {str(champions.version)}:
        log(f"rescoring {as_of}: the history holds another version's scores")
        history[as_of] = score_into_history(data_dir, as_of, champions, history_root, log=log)
    elif not fresh:
        now = feature_snapshot(data_dir, as_of, champions, progress=False)
        if not _same_features(history[as_of][1], now):
            log(f"rescoring {as_of}: the history was scored from other data than {data_dir}")
            history[as_of] = score_into_history(
                data_dir, as_of, champions, history_root, snapshot=now, log=log
            )
    # Realized performance is every kept date's, judged against the pair that scored it: what the
    # CRM received under an earlier champion counts too.
    references = _references_of(history, champions, reference, tracking_uri, project, log)
    history = {d: sf for d, sf in history.items() if d == as_of or d in references}
    labels = champions.clv_config.labels.model_dump()
    result = monitor(
        project=project,
        model_version=champions.version,
        reference=reference,
        as_of=as_of,
        history=history,
        data_dir=data_dir,
        data_end=data_end,
        cfg=cfg,
        labels=labels,
        references=references,
    )
    out = _backfill_folder(Path(out_dir), project, as_of, log)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "monitor.json", "html": out / "monitor.html"}
    # one run's pair or the last one's: a full disk for the page keeps the last JSON as well
    write_texts_atomic(
        {paths["json"]: report_json(result.report), paths["html"]: render_html(result.report)}
    )
    result.report["mlflow_run_id"] = log_to_mlflow(result, tracking_uri, paths)
    write_json(result.report, paths["json"])
    return result, paths


def _backfill_folder(out: Path, project: str, as_of: date, log) -> Path:
    """``out``, or for a backfill (a date before that of the report of ``project`` already in
    ``out``: the one the service's gauges read) ``out/backfill-<date>``, said: the latest
    verdict stays where it is read, as its model version's tags keep it."""
    try:
        latest = json.loads((out / "monitor.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out
    if not isinstance(latest, dict) or not isinstance(latest.get("as_of"), str):
        return out  # no report (another tool's JSON): written over, as before
    if latest.get("project") != project or str(as_of) >= latest["as_of"]:
        return out
    folder = out / f"backfill-{as_of}"
    log(
        f"{as_of} is before the report of {latest['as_of']} in {out} (the one the service's "
        f"gauges read): this backfill's report goes to {folder}"
    )
    return folder


def _close_killed_runs(tracking_uri: str, log) -> None:
    """Runs left RUNNING by a killed command (a monitor killed while logging its report: a
    retrain resumed after it trains nothing, so no training marks it) are marked FAILED."""
    from mlflow.tracking import MlflowClient

    from training.registry import fail_stale_runs

    fail_stale_runs(MlflowClient(tracking_uri=tracking_uri), log=log)


def _references_of(history, champions, reference, tracking_uri, project, log) -> dict:
    """Per kept date, the monitoring reference of the version that scored it (dates scored by
    several versions, or by a version without a reference, are left out, said once)."""
    from serving.monitor import scored_by_version
    from training.registry import load_version

    loaded: dict[str, dict | None] = {str(champions.version): reference}
    out = {}
    for day, (scores, _) in sorted(history.items()):
        version = scored_by_version(scores)
        if version is None:
            log(f"realized performance: {day} skipped (scored by several model versions)")
            continue
        if version not in loaded:
            try:
                loaded[version] = load_version(tracking_uri, project, version).meta.get(
                    "monitor_reference"
                )
            except Exception as exc:  # noqa: BLE001 - a deleted version: its dates are skipped
                log(f"realized performance: v{version} cannot be read ({type(exc).__name__})")
                loaded[version] = None
            if loaded[version] is None:
                log(f"realized performance: dates scored by v{version} skipped (no reference)")
        if loaded[version] is not None:
            out[day] = loaded[version]
    return out


def _plain(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def log_to_mlflow(result: MonitorResult, tracking_uri: str, paths: dict[str, Path]) -> str:
    """One run in ``<project>/monitor`` with the verdict, the PSI values and both reports; the
    model version gets ``monitor.verdict`` / ``monitor.as_of`` / ``monitor.run_id`` tags, unless
    it holds them for a later date (a past date monitored again leaves the latest verdict)."""
    from mlflow.tracking import MlflowClient

    from training.config import TrackingConfig, tracking_for
    from training.registry import open_experiment, owner_tags, pair_model_name

    r = result.report
    client = MlflowClient(tracking_uri=tracking_uri)
    name = f"{r['project']}/{MONITOR_EXPERIMENT}"
    experiment_id = open_experiment(TrackingConfig(**tracking_for(tracking_uri)), name)
    run = client.create_run(
        experiment_id,
        run_name=f"monitor-{r['as_of']}",
        tags={
            "project": r["project"],
            "kind": "monitor",
            "model_version": r["model_version"],
            "model": pair_model_name(r["project"]),
            "as_of": r["as_of"],
            "verdict": r["verdict"],
            **owner_tags(),  # a monitor killed mid-log: the next command marks its run FAILED
        },
    )
    run_id = run.info.run_id
    try:
        metrics = {"verdict_level": float(["ok", "warn", "alert"].index(r["verdict"]))}
        metrics.update(
            {f"psi.{row['feature']}": row["psi"] for row in r["input_drift"] if _finite(row["psi"])}
        )
        metrics.update(
            {
                f"score_psi.{row['score']}": row["psi"]
                for row in r["score_drift"]
                if _finite(row["psi"])
            }
        )
        for row in r["performance"]:
            for key, value in row.get("metrics", {}).items():
                if _finite(value):
                    metrics[f"realized.{row['as_of']}.{key}"] = value
        _log_metrics(client, run_id, metrics)
        for path in paths.values():
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    model = pair_model_name(r["project"])
    tags = client.get_model_version(model, r["model_version"]).tags
    if r["as_of"] < tags.get("monitor.as_of", ""):  # a backfill: the latest date's verdict stays
        return run_id
    for key, value in {
        "monitor.verdict": r["verdict"],
        "monitor.as_of": r["as_of"],
        "monitor.run_id": run_id,
    }.items():
        client.set_model_version_tag(model, r["model_version"], key, value)
    return run_id


def _log_metrics(client, run_id: str, metrics: dict[str, float]) -> None:
    """Log ``metrics`` in batches (MLflow takes 1,000 a call): one call per metric took 9 s for
    the 456 metrics of a year's realized performance (helper's year of weekly retrains)."""
    import time

    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    rows = [Metric(_metric_key(k), float(v), stamp, 0) for k, v in metrics.items()]
    for start in range(0, len(rows), 1000):
        client.log_batch(run_id, metrics=rows[start : start + 1000])


def _finite(value) -> bool:
    import math

    return isinstance(value, (int, float)) and math.isfinite(value)


def _metric_key(key: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", key)


def report_json(report: dict) -> str:
    """The report as strict JSON text: a PSI without data is null, not NaN."""
    from features.atomic_file import json_text

    return json_text(report, default=_plain)


def write_json(report: dict, path: Path) -> None:
    """The report as strict JSON (``report_json``), replaced as a whole, readable as any file
    the user writes (umask)."""
    from features.atomic_file import write_text_atomic

    write_text_atomic(path, report_json(report))
