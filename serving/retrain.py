"""``lifecycle retrain``: plan the cutoffs the new data allows -> train -> gate -> score ->
monitor, as one job.

- **One at a time**: an OS file lock per project and MLflow store; a second run exits at once
  with a message naming the running process (released when that process dies, even by kill -9).
- **Resumable and safe to re-run**: each finished step is recorded in a state file keyed by the
  inputs (a hash of the data files, the config and the scoring date). A run with the same inputs
  skips the steps already done (a finished job only prints its summary again), unless the files a
  step left (scores, monitor report) are gone or were replaced since; a run killed in the
  middle goes on from the first unfinished step (a killed training run is marked FAILED in MLflow
  by the next training, ``training.registry.fail_stale_runs``).
- **Summary**: what was promoted and why, the monitor verdict and its causes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from features.atomic_file import write_json_atomic

if TYPE_CHECKING:
    from training.config import ExperimentConfig

STEPS = ("plan", "train", "score", "monitor")


class RetrainBusy(RuntimeError):
    """Another retrain of the same project holds the lock."""


class RollbackRefused(RuntimeError):
    """The scores file or the history already holds a later date than this job's."""


@dataclass
class RetrainSettings:
    config: Path
    data_dir: Path
    project: str
    tracking_uri: str
    history_root: Path
    reports: Path
    state_dir: Path
    as_of: date | None = None
    monitor_config: Path | None = None
    #: The scores file export and the service read (``lifecycle score --out``), with its
    #: ``.snapshot.parquet`` and ``.csv``; None: the history only.
    scores: Path | None = None
    #: Score history partitions older than this many days before the date are removed at the
    #: end of a job; None: all are kept.
    keep_history_days: int | None = None


def retrain_lock_path(tracking_uri: str, project: str) -> Path:
    """One lock per MLflow store and project (next to a SQLite store), whatever ``--state`` each
    run is given: two retrains of one project on one store would both train and promote."""
    from training.registry import lock_path

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in project)
    return lock_path(tracking_uri, f"retrain-{safe}")


@contextmanager
def retrain_lock(path: Path, project: str) -> Iterator[None]:
    """Hold the lock file ``path`` or raise ``RetrainBusy`` naming its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RetrainBusy(
                f"another retrain of project {project!r} is running ({holder}; lock {path}); "
                f"this run exits without doing anything"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def inputs_key(settings: RetrainSettings, as_of: date) -> str:
    """Hash of what decides the outcome: data files, config text, scoring date, project."""
    from training.config import config_file

    digest = hashlib.sha256()
    for path in sorted(settings.data_dir.glob("*.parquet")):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(config_file(settings.config).read_bytes())
    if settings.monitor_config:
        digest.update(Path(settings.monitor_config).read_bytes())
    digest.update(f"{as_of}|{settings.project}|{settings.tracking_uri}".encode())
    return digest.hexdigest()[:16]


class State:
    """The steps done for one set of inputs, in ``<state_dir>/<project>-<key>.json`` (written
    atomically after each step)."""

    def __init__(self, path: Path, log=print):
        self.path = path
        self.data: dict = {"steps": {}}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
                if not isinstance(self.data, dict) or not isinstance(self.data.get("steps"), dict):
                    raise ValueError("not the job's records")
            except ValueError as exc:
                log(
                    f"warning: {path}: the job's step records are damaged ({type(exc).__name__}): "
                    "every step runs again (a version the gate already decided for these inputs "
                    "is kept, not trained again)"
                )
                self.data = {"steps": {}}

    def done(self, step: str) -> dict | None:
        return self.data["steps"].get(step)

    def record(self, step: str, result: dict) -> None:
        self.data["steps"][step] = {**result, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json_atomic(self.path, self.data, default=str)  # synced before the rename


def retrain(settings: RetrainSettings, log=print) -> tuple[dict, int]:
    """Run (or resume) the job; return its summary and exit code (the monitor's: 3 on alert)."""
    from serving.config import check_scoring_section
    from training.config import load_config
    from training.dataset import data_bounds, export_warnings
    from training.registry import pause_point

    check_scoring_section(load_config(settings.config).scoring, settings.config)
    with retrain_lock(retrain_lock_path(settings.tracking_uri, settings.project), settings.project):
        data_end = data_bounds(settings.data_dir)[1]
        as_of = settings.as_of or data_end
        for said in export_warnings(settings.data_dir, as_of, data_end):
            log(said)
        check_not_a_rollback(settings, as_of)
        key = inputs_key(settings, as_of)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        state = State(settings.state_dir / f"{settings.project}-{key}.json", log)
        for step in STEPS:
            done = state.done(step)
            same_place = done is not None and done.get("outputs") == _outputs(settings, step)
            if done is not None and same_place and done.get("written") == _written(settings, step):
                log(
                    f"retrain {settings.project}: {step}: already done for these inputs ({key}), "
                    "skipped"
                )
                continue
            if same_place:  # its files are gone, or another run (another date) replaced them
                log(
                    f"retrain {settings.project}: {step}: done, but its output is gone or was "
                    "replaced since; again ..."
                )
            elif done:  # same inputs, other output folders: the step writes there too
                log(f"retrain {settings.project}: {step}: done, but written elsewhere; again ...")
            else:
                log(f"retrain {settings.project}: {step} ...")
            result = _STEP[step](settings, as_of, state, log)
            state.record(
                step,
                {
                    **result,
                    "outputs": _outputs(settings, step),
                    "written": _written(settings, step),
                },
            )
            pause_point(f"retrain_after_{step}", log)
        if settings.keep_history_days is not None:
            _prune_history(settings, as_of, log)
        summary = summarise(settings.project, as_of, key, state)
    return summary, 3 if summary["verdict"] == "alert" else 0


def _prune_history(settings: RetrainSettings, as_of: date, log) -> None:
    """The retention of ``keep_history_days``: a weekly history grew by about 170 bytes per
    customer a week, without end (8.8 GB a year at a million customers)."""
    from serving.score_history import prune

    assert settings.keep_history_days is not None
    before = as_of - timedelta(days=settings.keep_history_days)
    if removed := prune(settings.history_root, settings.project, before):
        log(
            f"retrain {settings.project}: removed {len(removed)} score history dates before "
            f"{before} ({removed[0]}..{removed[-1]}; --keep-history-days "
            f"{settings.keep_history_days})"
        )


def check_not_a_rollback(settings: RetrainSettings, as_of: date) -> None:
    """RollbackRefused when the scores file or the score history already holds a later date: a job
    of an earlier date run after a later one (a scheduler's retry, a backfill, an export cut short)
    promoted a pair trained on less, put older scores where export and the service read them, and
    rewrote the history's record of what the CRM was sent for that date."""
    from serving import score_history
    from serving.batch import scored_days, scored_project

    scores = Path(settings.scores) if settings.scores else None
    ours = scores is not None and scored_project(scores) in (None, settings.project)
    held = {
        "scores file": scored_days(scores) if scores is not None and ours else set(),
        "score history": set(score_history.dates(settings.history_root, settings.project)),
    }
    later = {where: max(days) for where, days in held.items() if days and max(days) > as_of}
    if later:
        where = "; ".join(f"the {k} holds {v}" for k, v in later.items())
        why = (
            "A job of an earlier date run after a later one changes nothing now"
            if settings.as_of
            else f"The data now ends {as_of} (the day after its last order): is the orders "
            "export cut short? Without --as-of the date is the data's end"
        )
        raise RollbackRefused(
            f"retrain as of {as_of} would roll project {settings.project!r} back: {where}. {why}"
            "; to score a past date without replacing what the CRM reads or the history "
            f"holds: lifecycle score --as-of {as_of} --out <scratch folder>/scores.parquet"
        )


def _outputs(settings: RetrainSettings, step: str) -> dict[str, str] | None:
    """Where a step writes (a step recorded with other locations is run again)."""
    outputs: dict[str, dict[str, Path | None]] = {
        "score": {"history": settings.history_root, "scores": settings.scores},
        "monitor": {"history": settings.history_root, "report": settings.reports},
    }
    where = outputs.get(step)
    return None if where is None else {k: str(v and Path(v).resolve()) for k, v in where.items()}


def _written(settings: RetrainSettings, step: str) -> dict[str, str] | None:
    """Size and modification time of the files a step leaves for users (the scores file, the
    monitor report): a step whose files are gone or were rewritten since is not done."""
    files = {
        "score": [] if settings.scores is None else [Path(settings.scores)],
        "monitor": [Path(settings.reports) / "monitor.json"],
    }.get(step)
    if files is None:
        return None
    stamps = {}
    for path in files:
        try:
            stat = path.stat()
            stamps[str(path.resolve())] = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            stamps[str(path.resolve())] = "missing"
    return stamps


def _plan(settings: RetrainSettings, as_of: date, state: State, log) -> dict:
    """The cutoff plan the data allows (fails here, before any training, when it cannot hold it)."""
    from training.config import load_config
    from training.train import plan_for

    plan = plan_for(settings.data_dir, load_config(settings.config))
    return {
        "train_cutoffs": [str(c) for c in plan.train],
        "valid_cutoff": str(plan.valid),
        "test_cutoff": str(plan.test),
        "refit_cutoffs": [str(c) for c in plan.refit],
        "as_of": str(as_of),
    }


def retrain_config(settings: RetrainSettings) -> ExperimentConfig:
    """The experiment config a retrain trains with: the YAML's, moved to the retrain's MLflow
    store (its experiment name and an ``artifact_root`` it sets are kept; ``lifecycle train``
    moves a config the same way for ``--tracking-uri``)."""
    from training.config import load_config, moved_to

    cfg = load_config(settings.config)
    return cfg.model_copy(update={"tracking": moved_to(cfg.tracking, settings.tracking_uri)})


def _train(settings: RetrainSettings, as_of: date, state: State, log) -> dict:
    from serving.monitor import reference_mix
    from serving.scoring import fit_scoring_thresholds
    from training.train import train

    inputs = state.path.stem  # <project>-<inputs key>
    if (decided := decided_version(settings.tracking_uri, settings.project, inputs)) is not None:
        log(
            f"retrain {settings.project}: train: v{decided['version']} was trained and decided "
            "for these inputs by a run stopped before it could record it: kept, not trained again"
        )
        finish_kept_run(settings.tracking_uri, decided["run_id"])
        return decided
    cfg = retrain_config(settings)
    watched = champion_monitor_tags(settings.tracking_uri, settings.project)
    result = train(
        cfg,
        settings.data_dir,
        project=settings.project,
        scoring_thresholds=fit_scoring_thresholds,
        reference_mix=reference_mix,
        progress=False,
        log=log,
        tags={INPUTS_TAG: inputs},
    )
    decision = result.decision
    assert decision is not None  # train(register=True) always decides
    plan = state.done("plan") or {}
    # the latest outcomes the pair learnt from: its refit windows', else its validation window's
    # (early stopping and calibration), never the test window's
    cutoffs = plan.get("refit_cutoffs") or [plan.get("valid_cutoff")]
    learnt_until = date.fromisoformat(max(c for c in cutoffs if c)) + timedelta(
        days=cfg.labels.churn_horizon_days
    )
    done = {
        "run_id": result.run_id,
        "version": decision.version,
        "promoted": decision.promoted,
        "reason": decision.reason,
        "champion_before": decision.champion_version,
        "test_churn_auc": result.metrics.get("test_churn_auc"),
        "test_clv_gini": result.metrics.get("test_clv_gini"),
        "repeated": result.repeated,
    }
    if decision.promoted and (note := unlearnt_change(watched, decision.version, learnt_until)):
        log(note)
        done["note"] = note
    if result.reference_moved:
        done["reference_moved"] = result.reference_moved
    return done


def champion_monitor_tags(tracking_uri: str, project: str) -> dict[str, str]:
    """The current champion's version and last monitor verdict and date (its ``monitor.*``
    tags); empty when there is no champion."""
    from mlflow.tracking import MlflowClient

    from training.registry import champion_version, pair_model_name

    client = MlflowClient(tracking_uri=tracking_uri)
    version = champion_version(client, project)
    if version is None:
        return {}
    tags = client.get_model_version(pair_model_name(project), version).tags
    return {"version": version, **{k: v for k, v in tags.items() if k.startswith("monitor.")}}


def unlearnt_change(watched: dict[str, str], version: str, learnt_until: date) -> str | None:
    """What a promotion after a WARN or ALERT does not fix, in words: the new pair's drift
    reference is the data at its training date, changed data included, so the monitor reads the
    change as normal; but its labels end ``learnt_until``, before the monitored date, so it never
    learnt from the change. (Promotion reset the verdict to OK without a word.)"""
    verdict, day = watched.get("monitor.verdict"), watched.get("monitor.as_of")
    if verdict not in ("warn", "alert") or not day or date.fromisoformat(day) <= learnt_until:
        return None
    return (
        f"note: v{version} replaces v{watched['version']}, monitored {verdict.upper()} on {day}; "
        f"v{version} learnt from outcomes up to {learnt_until}, before that date: the change the "
        "monitor saw is now in its drift reference (so drift reads it as normal) but not in what "
        "it learnt; realized performance will tell once the horizon after the change has passed"
    )


#: The run tag naming the retrain job inputs a training run was for.
INPUTS_TAG = "lifecycle.retrain_inputs"


def finish_kept_run(tracking_uri: str, run_id: str) -> None:
    """Close the training run of a version a stopped job registered and the gate decided: left
    RUNNING, the next training marked it FAILED ("process ... is gone") while its version served
    as champion; one a training in between marked so is closed too. (Called under the retrain
    lock: no live job owns the run.)"""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    # RUNNING, or FAILED by a training in between that found its process gone
    if run.info.status == "RUNNING" or "lifecycle.failed_reason" in run.data.tags:
        client.set_tag(run_id, "lifecycle.finished_by", "a resumed retrain kept its version")
        client.set_terminated(run_id, status="FINISHED")


def decided_version(tracking_uri: str, project: str, inputs: str) -> dict | None:
    """The train step's record of a version a killed job trained for ``inputs`` and the gate
    decided (its promotion tag set, or the champion alias on it); None when there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from training.registry import champion_version, pair_model_name

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        versions = client.search_model_versions(f"name='{pair_model_name(project)}'")
    except MlflowException:
        return None
    champion = champion_version(client, project)
    for version in sorted(versions, key=lambda v: -int(v.version)):
        number = str(version.version)
        decided = "promotion" in version.tags or number == champion
        if not decided or not version.run_id:
            continue
        try:
            run = client.get_run(version.run_id)
        except MlflowException:  # its run was deleted and collected (mlflow gc)
            continue
        if run.data.tags.get(INPUTS_TAG) != inputs:
            continue
        return {
            "run_id": version.run_id,
            "version": number,
            # the gate's own record; without it (killed between alias and tags) the alias
            "promoted": version.tags.get("promoted", str(number == champion).lower()) == "true",
            "reason": version.tags.get("promotion", "champion (decided before the stop)"),
            "champion_before": None,
            "test_churn_auc": run.data.metrics.get("test_churn_auc"),
            "test_clv_gini": run.data.metrics.get("test_clv_gini"),
        }
    return None


def _score(settings: RetrainSettings, as_of: date, state: State, log) -> dict:
    from serving.batch import load_champions
    from serving.monitor_run import score_into_history

    champions = load_champions(settings.tracking_uri, settings.project)
    scores, snapshot = score_into_history(
        settings.data_dir, as_of, champions, settings.history_root, log=log
    )
    done = {
        "champion_version": champions.version,
        "customers": len(scores),
        "history": str(settings.history_root / settings.project / f"as_of={as_of}"),
    }
    if settings.scores is not None:  # what export and the service read, as `lifecycle score`
        from serving.batch import write_scores
        from serving.scoring import people_rows

        settings.scores.parent.mkdir(parents=True, exist_ok=True)
        from serving.score_history import mark_sent

        write_scores(settings.scores, scores, snapshot, people_rows(scores), settings.data_dir)
        if trouble := mark_sent(settings.history_root, settings.project, as_of):
            log(trouble)  # the tier hold's last sent date stays the one before
        done["scores"] = str(settings.scores)
    return done


def _monitor(settings: RetrainSettings, as_of: date, state: State, log) -> dict:
    from serving.monitor_config import load_monitor_config
    from serving.monitor_run import run_monitor

    result, paths = run_monitor(
        data_dir=settings.data_dir,
        as_of=as_of,
        project=settings.project,
        tracking_uri=settings.tracking_uri,
        history_root=settings.history_root,
        out_dir=settings.reports,
        cfg=load_monitor_config(settings.monitor_config),
        log=log,
    )
    return {
        "verdict": result.verdict,
        "causes": result.report["causes"][:5],
        "report": str(paths["html"]),
        "mlflow_run_id": result.report["mlflow_run_id"],
    }


_STEP = {"plan": _plan, "train": _train, "score": _score, "monitor": _monitor}


def summarise(project: str, as_of: date, key: str, state: State) -> dict:
    train, monitor, score = state.done("train"), state.done("monitor"), state.done("score")
    assert train is not None and monitor is not None and score is not None  # all steps done
    return {
        "project": project,
        "as_of": str(as_of),
        "inputs": key,
        "trained_version": train["version"],
        "promoted": train["promoted"],
        "reason": train["reason"],
        "repeated": train.get("repeated", False),
        "note": train.get("note"),
        "reference_moved": train.get("reference_moved"),
        "champion_version": score["champion_version"],
        "scores": score.get("scores"),
        "verdict": monitor["verdict"],
        "causes": monitor["causes"],
        "report": monitor["report"],
    }


def summary_lines(summary: dict) -> list[str]:
    verb = "PROMOTED" if summary["promoted"] else "not promoted"
    lines = [
        f"retrain {summary['project']} as of {summary['as_of']} (inputs {summary['inputs']})",
        f"  nothing trained: {summary['reason']}"
        if summary.get("repeated")
        else f"  trained v{summary['trained_version']}: {verb}: {summary['reason']}",
        f"  champion v{summary['champion_version']} scored; monitor verdict "
        f"{summary['verdict'].upper()}",
    ]
    lines += [f"    {c['level']}: {c['check']} {c['name']} ({c['why']})" for c in summary["causes"]]
    for note in ("note", "reference_moved"):
        if summary.get(note):
            lines.append(f"  {summary[note]}")
    if summary.get("scores"):
        lines.append(f"  scores: {summary['scores']} (for lifecycle export and the service)")
    lines.append(f"  report: {summary['report']}")
    return lines
