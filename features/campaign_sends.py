"""The checks across campaigns rows, in one file or several (a customer sent twice in a
campaign or in both of its arms, one campaign id over several sends), then each file's rows
accepted or quarantined."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.campaign_rows import FileRows, give_reason
from features.campaign_table import CAMPAIGNS, CONTROL, TREATED, typed_campaigns
from features.combined_files import add_counts
from features.contract import quarantine_rows
from features.ingest_tables import TableReport


def put_together(files: list[FileRows]):
    """Campaigns files' checked rows as one table: a customer sent twice in a campaign (the
    later send) or in both of its arms is found across the files as within one; then each file's
    rows are accepted or quarantined (naming its file and line) and counted. Returns
    ``(accepted, quarantined, report)``: the report of the one file, else the files' counts
    added up (each file's own report counts its rows)."""
    out = pd.concat([f.out for f in files], ignore_index=True) if len(files) > 1 else files[0].out
    reason = np.concatenate([f.reason for f in files]) if len(files) > 1 else files[0].reason
    key = out[["customer_id", "campaign_id"]]
    keyed = key.notna().all(axis=1).to_numpy() & pd.isna(reason)
    arms = out["arm"].where(keyed).groupby([out["customer_id"], out["campaign_id"]])
    both_arms = (arms.transform("nunique") > 1).to_numpy(bool) & keyed
    give_reason(reason, both_arms, "customer in both arms of the campaign (treated and control)")
    give_reason(
        reason, _later_sends(key, out["sent_at"]) & keyed, "duplicate customer_id in campaign"
    )
    # rows set aside for their date (a 2099 typo) do not widen a send; those of a customer sent
    # twice are what a reused id causes
    dated = pd.Series(reason, dtype="object").fillna("")
    dated = ~dated.str.contains("sent_at", regex=False).to_numpy()
    sends = _several_sends(out.loc[dated])
    if len(files) == 1:
        files[0].report.warnings += sends
        return _accepted_rows(files[0], reason)

    report = TableReport(table=CAMPAIGNS, source_file=", ".join(str(f.path) for f in files))
    accepted, quarantined = [], []
    ends = np.cumsum([len(f.out) for f in files])[:-1]
    for f, own in zip(files, np.split(reason, ends), strict=True):
        kept, aside, _ = _accepted_rows(f, own)
        accepted.append(kept)
        quarantined.append(aside)
        add_counts(report, f.report, np.array([], dtype=object))
        report.formats[f"file {f.path.name}"] = (
            f"{f.report.rows_read:,} rows read, {f.report.accepted:,} accepted, "
            f"{f.report.quarantined:,} quarantined"
        )
    report.warnings += sends
    accepted = typed_campaigns(pd.concat(accepted, ignore_index=True))
    report.accepted, report.quarantined = len(accepted), report.rows_read - len(accepted)
    return accepted, pd.concat(quarantined, ignore_index=True), report


def _accepted_rows(rows: FileRows, reason: np.ndarray):
    """One file's ``(accepted, quarantined, report)`` once every reason is known; the report
    counts them, with the first source row of each reason."""
    frame, lines, report, n = rows.frame, rows.lines, rows.report, len(rows.frame)
    ok = pd.isna(reason)
    where_rows = np.flatnonzero(~ok) + 1 if lines is None else np.asarray(lines)[~ok]
    quarantined = quarantine_rows(
        frame.loc[~ok].astype("string"), rows.path, where_rows, reason[~ok]
    )
    accepted = typed_campaigns(rows.out.loc[ok])
    report.rows_read, report.accepted, report.quarantined = n, len(accepted), int((~ok).sum())
    report.reasons = {str(k): int(v) for k, v in pd.Series(reason[~ok]).value_counts().items()}
    where = ("row", np.arange(1, n + 1)) if lines is None else ("line", np.asarray(lines))
    for why in report.reasons:  # the first row of each reason, as the other tables report it
        first = int(np.flatnonzero(reason == why)[0])
        cells = ",".join("" if pd.isna(v) else str(v) for v in frame.iloc[first].tolist())
        report.samples[why] = f"{where[0]} {where[1][first]}: {cells}"
    return accepted, quarantined, report


def _later_sends(key: pd.DataFrame, sent_at: pd.Series) -> np.ndarray:
    """True on a row whose ``key`` an earlier send has (in file order on the same time): the
    first send, the one the campaign measures, is kept whatever order the export lists them in."""
    order = np.argsort(sent_at.to_numpy(), kind="stable")
    later = np.zeros(len(key), dtype=bool)
    later[order] = key.iloc[order].duplicated().to_numpy()
    return later


#: A campaign whose sends span more than this many days is warned of as several sends.
ONE_SEND_DAYS = 28


def _several_sends(out: pd.DataFrame) -> list[str]:
    """Campaign ids sent over more than :data:`ONE_SEND_DAYS` (a "Newsletter" id for a January
    SMS and an April e-mail): each action is compared with the whole campaign's control
    customers, and a customer of both sends lands in both arms or twice."""
    rows = out[out["campaign_id"].notna() & out["sent_at"].notna()]
    if rows.empty:
        return []
    spans = rows.groupby("campaign_id")["sent_at"].agg(["min", "max"])
    wide = spans[spans["max"] - spans["min"] > pd.Timedelta(days=ONE_SEND_DAYS)]
    said = []
    for campaign, span in wide.head(3).iterrows():
        one = rows[rows["campaign_id"] == campaign]
        arm = one["arm"].astype("object")  # an unknown or missing arm is neither
        sent = one["action"].astype("object").where(arm == TREATED, "unknown arm")
        sent = sent.where(arm != CONTROL, "control").fillna("?")
        sends = one["sent_at"].groupby(sent.to_numpy()).agg(["min", "max"])
        parts = ", ".join(
            f"{action} {a:%Y-%m-%d}" + ("" if a.date() == b.date() else f"..{b:%Y-%m-%d}")
            for action, (a, b) in sends.iterrows()
        )
        said.append(
            f"campaign {campaign!r} was sent from {span['min']:%Y-%m-%d} to {span['max']:%Y-%m-%d} "
            f"({parts}): one id for several sends? Each action is compared with the control "
            "customers of its whole campaign, and a customer of two sends is quarantined (both "
            "arms, or twice); give each send its own campaign_id"
        )
    if len(wide) > 3:
        said.append(f"... and {len(wide) - 3} more campaign ids sent over more than 28 days")
    return said
