"""Each feature is declared once, in ``features.catalog``: the column lists, the service's request
model and ``docs/schema.md`` follow from it, and the feature table computed on real data has the
catalogue's columns, dtypes, nulls and bounds. One feature configuration (``FeatureConfig``) for
the feature code and the experiment YAMLs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features import catalog
from features import definitions as d
from features.config import DEFAULT_CONFIG, TABLE_FAMILIES, FeatureConfig
from features.contract import CONTACT_FLAGS, EVENT_TYPES
from serving.schemas import LATER_FIELDS, OPTIONAL_FAMILIES, REQUEST_FAMILIES, CustomerFeatures
from training.config import ConfigError, ExperimentConfig, load_config
from training.dataset import BTYD_COLUMNS, CALENDAR_COLUMNS, model_columns

REPO = Path(__file__).resolve().parents[1]
ALL_FAMILIES = ("rfm", "engagement", "static", "calendar", "btyd")


def test_each_feature_is_declared_once():
    names = catalog.columns(FeatureConfig(families=ALL_FAMILIES))
    assert len(names) == len(set(names)) == 66  # 61 in the feature table, calendar 1, btyd 4
    assert len({e.name for e in catalog.CATALOG}) == len(catalog.CATALOG)


def test_windowed_entries_expand_window_by_window():
    config = FeatureConfig(
        windows_days=(7, 28), event_windows_days=(14,), families=("rfm", "engagement")
    )
    rfm = d.rfm_columns(config)
    assert rfm[rfm.index("orders_7d") : rfm.index("orders_7d") + 4] == [
        "orders_7d",
        "revenue_7d",
        "orders_28d",
        "revenue_28d",
    ]
    assert d.engagement_columns(config)[:8] == [f"{e}_14d" for e in (*EVENT_TYPES, "other")]
    by_name = {f.name: f for f in catalog.features(config)}
    assert by_name["revenue_28d"].window == 28 and by_name["complaint_14d"].window == 14
    assert by_name["orders_trend_90d"].window == 90 and by_name["orders_all"].window is None
    assert d.feature_columns(config) == [*d.rfm_columns(config), *d.engagement_columns(config)]
    assert d.feature_columns(DEFAULT_CONFIG) == catalog.columns(DEFAULT_CONFIG, TABLE_FAMILIES)


def test_training_column_lists_come_from_the_catalogue():
    assert BTYD_COLUMNS == catalog.family_columns("btyd") and len(BTYD_COLUMNS) == 4
    assert CALENDAR_COLUMNS == ("cutoff_month",)
    assert d.STATIC_COLUMNS == ("region", "channel", "segment")
    cfg = ExperimentConfig(name="x", features={"families": ["rfm", "btyd", "calendar"]})
    frame = pd.DataFrame(columns=catalog.columns(FeatureConfig(families=ALL_FAMILIES)))
    assert model_columns(frame, cfg) == [
        *(c for c in d.rfm_columns(DEFAULT_CONFIG) if c != "first_gap_days"),
        "cutoff_month",
        *BTYD_COLUMNS,
    ]  # the first gap is in the feature table for the stage rules' fit, no model input
    assert "first_gap_days" in d.rfm_columns(DEFAULT_CONFIG)


def test_request_model_fields_are_the_catalogue():
    fields = CustomerFeatures.model_fields
    catalogued = catalog.features(DEFAULT_CONFIG, REQUEST_FAMILIES)
    flags = list(CONTACT_FLAGS)  # the CRM's contact flags, never model inputs
    assert list(fields) == ["customer_id", "as_of", *flags, *(f.name for f in catalogued)]
    properties = CustomerFeatures.model_json_schema()["properties"]
    for feature in catalogued:
        prop = properties[feature.name]
        kinds = prop.get("anyOf", [prop])
        optional = feature.family in OPTIONAL_FAMILIES or feature.name in LATER_FIELDS
        assert ({"type": "null"} in kinds) == (feature.nullable or optional), feature
        assert fields[feature.name].is_required() == (not optional), feature
        assert prop["description"] == feature.description
        value = next(k for k in kinds if k != {"type": "null"})
        if feature.dtype.startswith("int") and feature.bounds == catalog.FLAG:
            assert value["enum"] == [0, 1]
        elif feature.bounds is not None:
            assert (value["minimum"], value["maximum"]) == feature.bounds, feature


def test_request_model_applies_the_catalogue_bounds(service_row):
    CustomerFeatures.model_validate(service_row)
    for name, bad in (
        ("tenure_days", 40_000.0),
        ("returns_share", -0.5),
        ("visit_365d", -1),
        ("satisfaction_trend_90d", 1e4),
    ):
        with pytest.raises(ValidationError) as info:
            CustomerFeatures.model_validate({**service_row, name: bad})
        assert info.value.errors()[0]["loc"][0] == name


def test_booleans_are_refused_for_counts_and_measures_but_read_for_flags(service_row):
    for name in ("visit_365d", "recency_days"):
        with pytest.raises(ValidationError, match="expected a number, got true") as info:
            CustomerFeatures.model_validate_json(json.dumps({**service_row, name: True}))
        assert info.value.errors()[0]["loc"][0] == name
    text_numbers = {**service_row, "visit_365d": "3", "revenue_all": "120.5"}
    parsed = CustomerFeatures.model_validate_json(json.dumps(text_numbers))
    assert (parsed.visit_365d, parsed.revenue_all) == (3, 120.5)
    flag = {**service_row, "is_prospect": False}
    assert CustomerFeatures.model_validate_json(json.dumps(flag)).is_prospect == 0


def test_schema_doc_table_is_the_catalogue():
    text = (REPO / "docs" / "schema.md").read_text()
    assert catalog.documented_table(text) == catalog.markdown_table(), (
        "docs/schema.md is out of date: run `python -m features.catalog docs/schema.md`"
    )


def test_write_doc_rewrites_only_the_generated_table(tmp_path):
    doc = tmp_path / "schema.md"
    doc.write_text(f"# head\n\n{catalog.DOC_BEGIN}\n| old |\n{catalog.DOC_END}\n\ntail\n")
    assert catalog.write_doc(doc) is True and catalog.write_doc(doc) is False
    text = doc.read_text()
    assert text.startswith("# head\n") and text.endswith("\n\ntail\n") and "| old |" not in text
    with pytest.raises(ValueError, match="markers"):
        catalog.documented_table("# no markers")


@pytest.fixture(scope="module")
def training_frame(tmp_path_factory) -> pd.DataFrame:
    """Every catalogued column computed on a small synthetic CRM data set (two cutoffs)."""
    from datetime import date

    from features.synthetic import generate
    from training.dataset import build_frame

    data = tmp_path_factory.mktemp("catalog-data")
    generate(data, 600, seed=5, start="2023-01-01", end="2024-12-31", progress=False)
    cfg = ExperimentConfig(name="catalog", features={"families": list(ALL_FAMILIES)})
    return build_frame(
        data,
        [date(2024, 6, 1), date(2024, 9, 1)],
        cfg,
        churn_horizon_days=90,
        value_horizon_days=180,
        with_labels=False,
        progress=False,
    )


@pytest.fixture()
def service_row(training_frame) -> dict:
    """A buyer's row of the feature table as a request body."""
    row = training_frame[training_frame["orders_all"] >= 2].iloc[0]
    names = catalog.columns(DEFAULT_CONFIG, REQUEST_FAMILIES)
    return {
        "customer_id": str(row["customer_id"]),
        **{
            n: None if pd.isna(row[n]) else row[n].item() if hasattr(row[n], "item") else row[n]
            for n in names
        },
    }


def test_computed_columns_have_the_catalogue_dtypes_nulls_and_bounds(training_frame):
    from training.dataset import VALUE_HORIZON_P0

    frame = training_frame
    features = catalog.features(FeatureConfig(families=ALL_FAMILIES))
    # beside the features, not a model input: BG/NBD P(no purchase) over the value horizon
    assert [c for c in frame.columns if c not in ("customer_id", "cutoff", VALUE_HORIZON_P0)] == [
        f.name for f in features
    ]
    beside = frame[VALUE_HORIZON_P0]
    assert str(beside.dtype) == "float64" and beside.dropna().between(0, 1).all()
    buyers = frame["is_prospect"] == 0
    assert beside[buyers].notna().all() and beside[~buyers].isna().all()
    assert frame["is_prospect"].sum() > 0 and frame["events_all"].max() > 0  # a varied sample
    for f in features:
        column = frame[f.name]
        if f.dtype == "string":
            assert pd.api.types.is_string_dtype(column) or column.isna().all(), f.name
        else:
            assert str(column.dtype) == f.dtype, (f.name, column.dtype)
        if not f.nullable:
            assert column.notna().all(), f"{f.name} has nulls but the catalogue says it has none"
        if f.bounds is not None:
            values = column.dropna()
            assert values.between(f.ge, f.le).all(), (f.name, values.min(), values.max())


def test_one_feature_config_for_features_and_experiments():
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        cfg = load_config(path)
        assert type(cfg.features) is FeatureConfig, path
    assert ExperimentConfig.model_fields["features"].annotation is FeatureConfig


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ("  windows: [30]\n", "features.windows: Extra inputs are not permitted"),
        ("  windows_days: [30, 30]\n", "features.windows_days: Value error, must not repeat"),
        ("  event_windows_days: [0]\n", "features.event_windows_days.0"),
        ("  families: [rfm, bogus]\n", "features.families.1"),
    ],
)
def test_feature_config_rejects_unknown_keys_and_bad_values(tmp_path, features, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nfeatures:\n{features}")
    with pytest.raises(ConfigError, match="bad.yaml") as info:
        load_config(path)
    assert expected in str(info.value)


def test_calendar_month_of_every_cutoff_kind_matches_pandas():
    from training.dataset import calendar_columns

    stamps = ["1899-03-05 23:59:59", "1969-12-31", "1970-01-01", "1997-10-01", "2024-02-29"]
    naive = pd.Series(pd.to_datetime(stamps, format="ISO8601"))
    with_gap = naive.copy()
    with_gap[1] = pd.NaT
    text = pd.Series(["1997-10-01", "2024-02-29"])
    for cutoff in (naive, naive.astype("datetime64[s]"), with_gap, text):
        expected = pd.to_datetime(cutoff, format="ISO8601").dt.month.to_numpy(dtype="float64")
        np.testing.assert_array_equal(calendar_columns(cutoff)["cutoff_month"], expected)
