"""Prometheus gauges of model health, for the service's ``/metrics`` (``docs/prometheus/``):

- ``lifecycle_champion_version{project}``: the served pair's registered version;
- ``lifecycle_snapshot_age_days{project}``: days since the served feature snapshot's date;
- ``lifecycle_served_churn_probability`` / ``lifecycle_served_predicted_value``: histograms of the
  scores being served (the snapshot's buyers);
- ``lifecycle_monitor_verdict{project}``: 0 ok, 1 warn, 2 alert, from the last ``monitor.json``
  (-1 when there is none), ``lifecycle_monitor_age_days`` and ``lifecycle_monitor_psi{feature}`` /
  ``lifecycle_monitor_score_psi{score}``.

``ModelHealthCollector`` computes them at scrape time (ages move with the clock); the service
registers one in its process registry once the pair and snapshot are loaded
(``serving.service.watch_model_health``; the report path from ``LIFECYCLE_MONITOR_REPORT``).
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np

PROBABILITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
VALUE_BUCKETS = (0.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)
VERDICT_VALUE = {"ok": 0.0, "warn": 1.0, "alert": 2.0}


def _histogram(name: str, doc: str, values, buckets, labels: dict[str, str]):
    from prometheus_client.core import HistogramMetricFamily

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    cumulative = [(str(b), float((x <= b).sum())) for b in buckets] + [("+Inf", float(len(x)))]
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), cumulative, sum_value=float(x.sum()))
    return family


class ModelHealthCollector:
    """Gauges of the served champion, its snapshot and scores, and the last monitor report."""

    def __init__(
        self,
        project: str,
        champion_version: str,
        snapshot_as_of: date | None,
        churn_probability,
        predicted_value,
        monitor_report: str | Path | None = None,
        clock=time.time,
    ):
        self.project, self.version, self.as_of = project, str(champion_version), snapshot_as_of
        self.churn_probability = np.asarray(churn_probability, dtype=float)
        self.predicted_value = np.asarray(predicted_value, dtype=float)
        self.monitor_report = Path(monitor_report) if monitor_report else None
        self.clock = clock

    def _report(self) -> tuple[dict | None, float | None]:
        if self.monitor_report is None or not self.monitor_report.exists():
            return None, None
        try:
            report = json.loads(self.monitor_report.read_text())
        except (OSError, json.JSONDecodeError):
            return None, None
        if report.get("project") not in (None, self.project) and self.project != "default":
            return None, None  # another project's monitor wrote the file: not this pair's health
        return report, (self.clock() - self.monitor_report.stat().st_mtime) / 86400

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        labels = {"project": self.project}
        version = GaugeMetricFamily(
            "lifecycle_champion_version",
            "Registered version of the served champion pair",
            labels=["project"],
        )
        version.add_metric([self.project], float(self.version) if self.version.isdigit() else -1.0)
        yield version
        age = GaugeMetricFamily(
            "lifecycle_snapshot_age_days",
            "Days since the served feature snapshot's date",
            labels=["project"],
        )
        if self.as_of is not None:  # a snapshot without a date has no age
            seconds = self.clock() - time.mktime(self.as_of.timetuple())
            age.add_metric([self.project], seconds / 86400)
        yield age
        buyers = np.isfinite(self.churn_probability)
        yield _histogram(
            "lifecycle_served_churn_probability",
            "Churn probabilities being served (buyers)",
            self.churn_probability[buyers],
            PROBABILITY_BUCKETS,
            labels,
        )
        yield _histogram(
            "lifecycle_served_predicted_value",
            "Predicted values being served",
            self.predicted_value,
            VALUE_BUCKETS,
            labels,
        )
        report, report_age = self._report()
        verdict = GaugeMetricFamily(
            "lifecycle_monitor_verdict",
            "Last monitor verdict: 0 ok, 1 warn, 2 alert, -1 none",
            labels=["project", "model_version"],
        )
        verdict.add_metric(
            [self.project, str(report["model_version"]) if report else self.version],
            VERDICT_VALUE.get(report["verdict"], -1.0) if report else -1.0,
        )
        yield verdict
        if report is None:
            return
        monitor_age = GaugeMetricFamily(
            "lifecycle_monitor_age_days", "Days since the last monitor report", labels=["project"]
        )
        monitor_age.add_metric([self.project], report_age)
        yield monitor_age
        psi = GaugeMetricFamily(
            "lifecycle_monitor_psi",
            "PSI of a feature vs the reference, last monitor",
            labels=["project", "feature"],
        )
        for row in report.get("input_drift", []):
            if row.get("psi") is not None and np.isfinite(row["psi"]):
                psi.add_metric([self.project, row["feature"]], float(row["psi"]))
        yield psi
        score_psi = GaugeMetricFamily(
            "lifecycle_monitor_score_psi",
            "PSI of a score vs the reference, last monitor",
            labels=["project", "score"],
        )
        for row in report.get("score_drift", []):
            if row.get("psi") is not None and np.isfinite(row["psi"]):
                score_psi.add_metric([self.project, row["score"]], float(row["psi"]))
        yield score_psi
