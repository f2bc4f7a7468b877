"""The monitor report as one self-contained HTML page: inline CSS, plots as base64 PNGs, no network.

Sections: verdict and causes; input drift (PSI bar chart and table); reference vs current
histograms of the most drifted features; score drift (probability and value histograms, stage and
tier mix); realized performance per matured scoring date with a calibration plot.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from serving.monitor import LEVELS

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Monitor {{ r.project }} v{{ r.model_version }} as of {{ r.as_of }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}
.ok{color:#176b2c}.warn{color:#a36100}.alert{color:#b00020;font-weight:bold}
.badge{font-size:1.4em;padding:.2em .6em;border:2px solid currentColor;border-radius:6px}
img{max-width:100%}
</style></head><body>
<h1>Model monitor: {{ r.project }} champion v{{ r.model_version }}</h1>
<p>As of <b>{{ r.as_of }}</b>; reference: buyers at {{ r.reference_cutoff }}
(when the pair was trained; {{ r.reference_customers }} customers);
scored now: {{ r.customers }} customers, {{ r.scored_buyers }} buyers.</p>
<h2 id="verdict">Verdict: <span class="badge {{ r.verdict }}">{{ r.verdict | upper }}</span></h2>
{% if r.causes %}<table><tr><th>level</th><th>check</th><th>name</th><th>why</th></tr>
{% for c in r.causes %}<tr><td class="{{ c.level }}">{{ c.level }}</td><td>{{ c.check }}</td>
<td>{{ c.name }}</td>
<td>{{ c.why }}</td></tr>{% endfor %}</table>{% else %}<p>No check past its warning line.</p>
{% endif %}

<h2 id="input-drift">Input drift</h2>
<img alt="PSI per feature" src="data:image/png;base64,{{ psi_png }}">
<table><tr><th>feature</th><th>PSI</th><th>KS</th><th>p (bins)</th><th>median shift</th>
<th>missing</th><th>missing change</th><th>new categories</th><th>level</th></tr>
{% for f in r.input_drift %}<tr><td>{{ f.feature }}</td><td>{{ f.psi | number('%.3f') }}</td>
<td>{{ f.ks | number('%.3f') }}</td>
<td>{{ f.p_value | number('%.1e') }}</td><td>{{ f.median_shift | number('%.2f') }}</td>
<td>{{ '%.3f' % f.missing }}</td><td>{{ '%+.3f' % f.missing_change }}</td>
<td>{{ '%.3f' % f.new_category_rate }}
{%- if f.get('new_categories') %} ({{ f.new_categories | join(', ') }}){% endif %}</td>
<td class="{{ f.level }}">{{ f.level }}</td></tr>{% endfor %}</table>

<h2 id="histograms">Reference vs current: the most drifted features</h2>
{% for name, png in histograms %}
<img alt="{{ name }}: reference vs current" src="data:image/png;base64,{{ png }}">{% endfor %}

<h2 id="score-drift">Score drift</h2>
<img alt="score distributions" src="data:image/png;base64,{{ scores_png }}">
<table><tr><th>score</th><th>PSI</th><th>level</th></tr>
{% for s in r.score_drift %}<tr><td>{{ s.score }}</td><td>{{ s.psi | number('%.3f') }}</td>
<td class="{{ s.level }}">{{ s.level }}</td></tr>{% endfor %}
</table>
{% for s in r.score_drift if s.reference is defined %}<h3>{{ s.score }}</h3>
<table><tr><th>share</th>{% for k in s.reference %}<th>{{ k }}</th>{% endfor %}</tr>
<tr><td>reference</td>{% for k in s.reference %}<td>{{ '%.3f' % s.reference[k] }}</td>{% endfor %}
</tr>
<tr><td>current</td>{% for k in s.reference %}<td>{{ '%.3f' % s.current.get(k, 0) }}</td>
{% endfor %}</tr></table>
{% endfor %}

<h2 id="performance">Realized performance on matured labels</h2>
{% if r.performance %}<p>Each date is judged against the test metrics of the version that
scored it; dates scored by a version the champion replaced are shown, not counted in the
verdict.</p><table><tr><th>scored as of</th><th>by</th><th>buyers</th>
{% for k in metric_keys %}<th>{{ k }}</th>{% endfor %}<th>level</th></tr>
{% for version, metrics in trained %}<tr><td>training (test)</td><td>v{{ version }}</td><td></td>
{% for k in metric_keys %}<td>{{ metrics.get(k) | number('%.3f') }}</td>{% endfor %}<td></td></tr>
{% endfor %}
{% for p in r.performance %}<tr><td>{{ p.as_of }}</td>
<td>{% if p.model_version %}v{{ p.model_version }}{% endif %}
{%- if p.replaced %} (replaced){% endif %}</td><td>{{ p.customers }}</td>
{% for k in metric_keys %}<td>
{%- if p.metrics is defined and k in p.metrics %}{{ '%.3f' % p.metrics[k] }}{% else %}&ndash;
{%- endif %}</td>{% endfor %}
<td class="{{ p.level }}">{{ p.level }}{% if p.skipped is defined %} ({{ p.skipped }}){% endif %}
{%- if p.replaced %} (not in the verdict){% endif %}</td></tr>{% endfor %}</table>
{% if calibration_png %}
<img alt="calibration on matured labels" src="data:image/png;base64,{{ calibration_png }}">
{% endif %}
{% else %}
<p>No kept scoring date has matured yet (its churn horizon has not passed by {{ r.as_of }}).</p>
{% endif %}
<h2 id="thresholds">Thresholds</h2><pre>{{ thresholds }}</pre>
</body></html>
"""

METRIC_KEYS = ("churn_auc", "churn_brier", "churn_ece", "clv_gini", "clv_mae", "clv_total_ratio")


def _psi_png(report: dict) -> str:
    import matplotlib.pyplot as plt

    from training.plots import figure_to_base64

    rows = report["input_drift"][:25]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.28 * len(rows) + 1)))
    names = [r["feature"] for r in rows][::-1]
    values = [np.nan_to_num(r["psi"]) for r in rows][::-1]
    colors = [{"ok": "#5a9", "warn": "#e90", "alert": "#c23"}[r["level"]] for r in rows][::-1]
    ax.barh(names, values, color=colors)
    t = report["thresholds"]["input"]
    for line, style in ((t["psi_warn"], ":"), (t["psi_alert"], "--")):
        ax.axvline(line, color="k", linestyle=style, linewidth=1)
    ax.set_xlabel(
        "PSI vs reference (dotted: warn, dashed: alert); colour: the feature's level by any "
        "statistic (PSI, KS, median shift)",
        fontsize=8,
    )
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return figure_to_base64(fig)


def _bars(ax, ref: dict, current, title: str) -> None:
    if ref["kind"] == "categorical":
        labels = list(ref["shares"])
        ref_shares = [ref["shares"][k] for k in labels]
        cur = [current.get(k, 0.0) for k in labels]
    else:
        edges = ref["edges"]
        labels = (
            [f"<{edges[0]:.3g}"]
            + [f"{a:.3g}-{b:.3g}" for a, b in pairwise(edges)]
            + [f">={edges[-1]:.3g}"]
            if edges
            else ["all"]
        )
        ref_shares, cur = ref["shares"], list(current)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, ref_shares, 0.4, label="reference", color="#888")
    ax.bar(x + 0.2, cur, 0.4, label="current", color="#37c")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=6)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("share")
    ax.legend(fontsize=7)


def _histogram_png(ref: dict, current, title: str) -> str:
    import matplotlib.pyplot as plt

    from training.plots import figure_to_base64

    fig, ax = plt.subplots(figsize=(5, 3))
    _bars(ax, ref, current, title)
    fig.tight_layout()
    return figure_to_base64(fig)


def _scores_png(report: dict) -> str:
    import matplotlib.pyplot as plt

    from training.plots import figure_to_base64

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    # Two panels; a report with fewer share-type scores leaves the extra panel empty.
    shares = [r for r in report["score_drift"] if "current_shares" in r]
    for ax, row in zip(axes, shares, strict=False):
        _bars(
            ax,
            report["reference"]["scores"][row["score"]],
            row["current_shares"],
            f"{row['score']} (PSI {row['psi']:.3f})",
        )
    fig.tight_layout()
    return figure_to_base64(fig)


def _calibration_png(report: dict) -> str | None:
    import matplotlib.pyplot as plt

    from training.plots import figure_to_base64

    rows = [p for p in report["performance"] if "calibration" in p]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    for p in rows:
        cal = p["calibration"]  # training.metrics.calibration_bins, as lists
        ax.plot(
            cal["mean_predicted"], cal["observed_rate"], marker="o", label=f"scored {p['as_of']}"
        )
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on matured labels")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return figure_to_base64(fig)


def _number(value, fmt: str) -> str:
    """A number for the page; a value that could not be measured (no current data) says so."""
    try:
        return fmt % value if np.isfinite(value) else "no data"
    except TypeError:
        return "no data" if value is None else str(value)


def _trained(report: dict) -> list[tuple[str, dict]]:
    """The test metrics each date is judged against: the champion's, then each earlier version's
    that scored a shown date (its row's reference)."""
    rows = [(str(report["model_version"]), report["reference"]["metrics"])]
    for p in report["performance"]:
        version = p.get("model_version")
        if version and "reference" in p and version not in {v for v, _ in rows}:
            rows.append((version, p["reference"]))
    return rows


def render_html(report: dict) -> str:
    """The page for ``report`` (``serving.monitor.MonitorResult.report``)."""
    import json

    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined)
    env.filters["number"] = _number
    # the features the verdict names first (an alert by median shift has a small PSI), then PSI
    top = sorted(
        (r for r in report["input_drift"] if np.isfinite(r["psi"])),
        key=lambda r: (-LEVELS.index(r["level"]), -r["psi"]),
    )[:4]
    histograms = [
        (
            r["feature"],
            _histogram_png(
                report["reference"]["features"][r["feature"]],
                r["current_shares"],
                f"{r['feature']} (PSI {r['psi']:.3f})",
            ),
        )
        for r in top
    ]
    return env.from_string(TEMPLATE).render(
        r=report,
        psi_png=_psi_png(report),
        histograms=histograms,
        scores_png=_scores_png(report),
        calibration_png=_calibration_png(report),
        metric_keys=METRIC_KEYS,
        trained=_trained(report),
        thresholds=json.dumps(report["thresholds"], indent=1),
    )
