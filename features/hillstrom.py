"""The Hillstrom e-mail test (``../shared/data/hillstrom``) as a contract directory with campaigns.

Hillstrom has no transaction history, only per-customer attributes at send time and outcomes over
the two weeks after. It goes through the ``campaigns`` table like any campaign export, with its
outcomes given directly:

- one campaign ``hillstrom-2008`` sent at a nominal ``2008-03-01`` (the real date is not
  published); ``customer_id`` = ``H`` + the 1-based row number of the file;
- ``segment`` -> ``arm``/``action``: ``Mens E-Mail`` -> treated ``mens_email``, ``Womens E-Mail``
  -> treated ``womens_email``, ``No E-Mail`` -> control; ``cost`` 0 (not published);
- outcomes: ``visit`` -> ``retained`` (0/1), ``spend`` -> ``value`` (dollars); ``conversion`` is
  kept with the attributes;
- the attributes known at send time (``recency``, ``history``, ``mens``, ``womens``,
  ``zip_code``, ``newbie``, ``channel``) go to ``campaign_features.parquet`` (one row per
  ``customer_id``, ``campaign_id``): the uplift models read them instead of computing features
  from transactions. ``customers.parquet`` lists the customers (``signup_at`` unknown: set to
  the start of the twelve months the attributes describe, ``2007-03-01``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.campaigns import ingest_campaigns
from features.contract import MANIFEST

CAMPAIGN_ID = "hillstrom-2008"
SENT_AT = "2008-03-01"
SIGNUP_AT = "2007-03-01"
SEGMENTS = {
    "Mens E-Mail": ("treated", "mens_email"),
    "Womens E-Mail": ("treated", "womens_email"),
    "No E-Mail": ("control", ""),
}
FEATURES = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")
FEATURES_FILE = "campaign_features.parquet"
#: What a Hillstrom ingest leaves in its folder, a killed one's staged file included (a re-run
#: may replace them); hidden files (.DS_Store) are not a data set's either.
STAGED = "hillstrom_campaigns.csv"
WRITTEN = frozenset(
    {"customers.parquet", "campaigns.parquet", FEATURES_FILE, MANIFEST, "quarantine", STAGED}
)
DEFAULT_SOURCE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom" / "hillstrom_train.csv"
)


def campaigns_export(source: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Hillstrom file rewritten as a campaigns export (text columns, contract names), and the
    raw file. An unknown ``segment`` is passed on as the arm, which the validation quarantines."""
    raw = pd.read_csv(source, dtype="string", keep_default_na=False)
    missing = sorted({"segment", "visit", "spend", *FEATURES} - set(raw.columns))
    if missing:
        raise ValueError(f"{source}: missing Hillstrom columns {missing}")
    return pd.DataFrame(
        {
            "customer_id": [f"H{i:05d}" for i in range(1, len(raw) + 1)],
            "sent_at": SENT_AT,
            "campaign_id": CAMPAIGN_ID,
            "arm": raw["segment"]
            .map({k: v[0] for k, v in SEGMENTS.items()})
            .fillna(raw["segment"]),
            "action": raw["segment"].map({k: v[1] for k, v in SEGMENTS.items()}).fillna(""),
            "cost": "0",
            "retained": raw["visit"],
            "value": raw["spend"],
        },
        dtype="string",
    ), raw


def ingest_hillstrom(out_dir: str | Path, source: str | Path = DEFAULT_SOURCE, log=print):
    """Write customers, campaigns (through the campaigns validation) and campaign features into
    ``out_dir``: a new folder, an empty one or an earlier Hillstrom ingest (another data set's
    tables would be half replaced: refused, naming them)."""
    from features.mapping import IngestError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise IngestError(f"{out}: is a file; --data names the folder the data set goes to")
    foreign = (
        sorted(
            p.name for p in out.iterdir() if p.name not in WRITTEN and not p.name.startswith(".")
        )
        if out.is_dir()
        else []
    )
    if foreign:
        raise IngestError(
            f"{out}: holds another data set's files ({', '.join(foreign[:4])}"
            f"{', ...' if len(foreign) > 4 else ''}); --hillstrom writes a data set of its own: "
            "give a new or empty folder"
        )
    export, raw = campaigns_export(source)
    out.mkdir(parents=True, exist_ok=True)
    customers = pd.DataFrame(
        {
            "customer_id": export["customer_id"].astype("string"),
            "signup_at": pd.Timestamp(SIGNUP_AT),
            "region": raw["zip_code"].replace({"Surburban": "Suburban"}).astype("string"),
            "channel": raw["channel"].astype("string"),
            "segment": raw["history_segment"].astype("string")
            if "history_segment" in raw
            else pd.NA,
        }
    )
    customers["signup_at"] = customers["signup_at"].astype("datetime64[us]")
    customers.to_parquet(out / "customers.parquet", index=False)
    staged = out / STAGED
    export.to_csv(staged, index=False)
    try:
        report = ingest_campaigns(out, staged, log=log)
    finally:
        staged.unlink(missing_ok=True)
    features = raw[list(FEATURES) + ["conversion"]].copy()
    for col in ("recency", "history", "mens", "womens", "newbie", "conversion"):
        features[col] = pd.to_numeric(features[col], errors="coerce")
    features["zip_code"] = features["zip_code"].replace({"Surburban": "Suburban"})
    features.insert(0, "campaign_id", CAMPAIGN_ID)
    features.insert(0, "customer_id", export["customer_id"])
    features.to_parquet(out / FEATURES_FILE, index=False)
    return report
