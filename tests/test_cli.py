"""The ``lifecycle`` command line, command by command, through Typer's runner: a user error (missing
or empty data set, no accepted rows, bad config, a plan that does not fit, no champion) is one
``error: ...`` line naming what is wrong, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from lifecycle_cli import app
from lifecycle_cli.errors import user_error
from training.config import ConfigError
from training.splits import PlanError

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "experiments" / "baseline.yaml"


def commands() -> dict[str, object]:
    """Every command of the CLI by its full name (``experiment run`` for sub-commands)."""
    found = {}
    for name, command in get_command(app).commands.items():
        for sub, leaf in getattr(command, "commands", {name: command}).items():
            found[name if sub == name else f"{name} {sub}"] = leaf
    return found


def data_set_args(data: Path, tmp: Path) -> dict[str, list[str]]:
    """Each command of this CLI that reads a contract directory, run on ``data``."""
    cases = {
        "features": [
            "features",
            "--data",
            str(data),
            "--cutoff",
            "2024-01-01",
            "--out",
            str(tmp / "f.parquet"),
        ],
        "train": ["train", "--config", str(CONFIG), "--data", str(data)],
        "tune": [
            "tune",
            "--config",
            str(CONFIG),
            "--data",
            str(data),
            "--out",
            str(tmp / "t.yaml"),
        ],
        "backtest": [
            "backtest",
            "--data",
            str(data),
            "--cutoff",
            "2024-01-01",
            "--horizon-days",
            "30",
            "--config",
            str(CONFIG),
            "--out",
            str(tmp / "b.json"),
        ],
        "score": ["score", "--data", str(data), "--out", str(tmp / "s.parquet")],
        "experiment run": ["experiment", "run", "baseline", "--data", str(data)],
        "uplift": ["uplift", "--data", str(data), "--out", str(tmp / "uplift")],
        "monitor": [
            "monitor",
            "--data",
            str(data),
            "--out",
            str(tmp / "monitor"),
            "--history",
            str(tmp / "history"),
        ],
        "retrain": [
            "retrain",
            "--config",
            str(CONFIG),
            "--data",
            str(data),
            "--out",
            str(tmp / "monitor"),
            "--history",
            str(tmp / "history"),
            "--state",
            str(tmp / "state"),
        ],
    }
    return {name: args for name, args in cases.items() if name in commands()}


#: Commands that do not read a contract directory, with their own user-error case.
OTHER_COMMANDS = {"ingest", "generate", "compare", "export", "prune"}  # prune: test_retention


def invoke(args: list[str], **env: str):
    return CliRunner(env=env or None).invoke(app, args)


def assert_one_line_error(result, *needles: str) -> str:
    """Exit 2, stdout empty, stderr exactly one ``error:`` line holding every needle."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_contract(root: Path, customers: pd.DataFrame, transactions: pd.DataFrame) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(root / "customers.parquet", index=False)
    transactions.to_parquet(root / "transactions.parquet", index=False)
    return root


def customers_frame(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype=str),
            "signup_at": pd.to_datetime(["2023-01-01"] * len(ids)).astype("datetime64[us]"),
        }
    )


def transactions_frame(ids: list[str], days: list[str], amounts: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype=str),
            "ordered_at": pd.to_datetime(days).astype("datetime64[us]"),
            "amount": pd.Series(amounts, dtype=float),
        }
    )


@pytest.fixture()
def no_rows(tmp_path) -> Path:
    """What an ingest that accepted nothing leaves: the tables exist, with 0 rows."""
    data = write_contract(
        tmp_path / "nothing-accepted", customers_frame([]), transactions_frame([], [], [])
    )
    (data / "quarantine").mkdir()
    pd.DataFrame({"row": [2], "reason": ["amount: not a number"]}).to_parquet(
        data / "quarantine" / "transactions.parquet"
    )
    return data


@pytest.fixture()
def short_history(tmp_path) -> Path:
    """A valid contract directory with two months of purchases: too little for any cutoff plan."""
    return write_contract(
        tmp_path / "short",
        customers_frame(["a", "b"]),
        transactions_frame(["a", "b"], ["2023-01-01", "2023-03-01"], [10.0, 20.0]),
    )


def test_every_command_that_reads_a_data_set_is_covered(tmp_path):
    assert set(commands()) <= set(data_set_args(tmp_path, tmp_path)) | OTHER_COMMANDS, (
        "a new command: add it to data_set_args (if it reads --data) or OTHER_COMMANDS with a test"
    )


@pytest.mark.parametrize("command", sorted(data_set_args(Path("x"), Path("x"))))
def test_missing_data_set_is_one_line(command, tmp_path):
    data = tmp_path / "not-there"
    result = invoke(data_set_args(data, tmp_path)[command])
    assert_one_line_error(result, f"data set {data}", "does not exist", "lifecycle ingest")


@pytest.mark.parametrize("command", sorted(data_set_args(Path("x"), Path("x"))))
def test_empty_data_set_is_one_line(command, tmp_path):
    data = tmp_path / "empty"
    data.mkdir()
    result = invoke(data_set_args(data, tmp_path)[command])
    assert_one_line_error(
        result, f"data set {data}", "empty", "customers.parquet", "transactions.parquet"
    )


@pytest.mark.parametrize("command", ["train", "score", "features", "backtest"])
def test_data_set_with_no_accepted_rows_is_one_line(command, no_rows, tmp_path):
    result = invoke(data_set_args(no_rows, tmp_path)[command])
    line = assert_one_line_error(
        result,
        f"data set {no_rows}",
        "transactions.parquet has 0 rows",
        str(no_rows / "quarantine" / "transactions.parquet"),
    )
    assert "NoneType" not in line


def test_data_set_missing_a_table_names_it(tmp_path):
    data = write_contract(
        tmp_path / "half", customers_frame(["a"]), transactions_frame(["a"], ["2024-01-02"], [5.0])
    )
    (data / "customers.parquet").unlink()
    assert_one_line_error(invoke(data_set_args(data, tmp_path)["train"]), "no customers.parquet")


def test_data_set_of_the_wrong_shape_names_the_file_and_column(tmp_path):
    data = write_contract(
        tmp_path / "strings",
        customers_frame(["a"]),
        transactions_frame(["a"], ["2024-01-02"], [5.0]).astype({"ordered_at": str}),
    )
    assert_one_line_error(
        invoke(data_set_args(data, tmp_path)["features"]),
        "transactions.parquet",
        "'ordered_at'",
        "timestamp",
    )


def test_data_set_that_is_not_parquet_is_one_line(short_history, tmp_path):
    (short_history / "transactions.parquet").write_text("customer_id,ordered_at,amount\n")
    assert_one_line_error(
        invoke(data_set_args(short_history, tmp_path)["score"]),
        "transactions.parquet is not a readable Parquet file",
    )


def test_rows_no_feature_can_use_are_refused_not_dropped(tmp_path):
    """A contract written by other means than ingest: rows without a customer, of a customer the
    customers table does not know, without a date, with a NaN or infinite amount, and events
    without a type or with a count that is no whole number are each counted in the one error line,
    with a first row to look up; before, all but the first were left out of every feature unseen
    and an infinite amount stopped scoring inside the value model."""
    ids = ["a", None, None, "ghost", "a", "a", "a"]
    days = ["2024-01-02"] * 4 + [None, "2024-01-03", "2024-01-04"]
    tx = transactions_frame(ids, days, [5.0, 6.0, 7.0, 8.0, 9.0, float("nan"), float("inf")])
    data = write_contract(tmp_path / "nulls", customers_frame(["a"]), tx)
    pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "occurred_at": pd.to_datetime(["2024-01-02"] * 2).astype("datetime64[us]"),
            "event_type": pd.Series(["visit", None], dtype=str),
            "event_count": [2.5, float("nan")],  # minutes, not a count
        }
    ).to_parquet(data / "events.parquet", index=False)
    line = assert_one_line_error(
        invoke(data_set_args(data, tmp_path)["features"]),
        "transactions.parquet: 2 row(s) with no customer_id",
        "transactions.parquet: 1 row(s) with no ordered_at (e.g. customer_id='a', ordered_at=null",
        "transactions.parquet: 2 row(s) with an amount that is missing or not a finite number",
        "amount=nan",
        "transactions.parquet: 1 row(s) with a customer_id not in customers.parquet (e.g. "
        "customer_id='ghost'",
        "events.parquet: 1 row(s) with no event_type",
        "events.parquet: 1 row(s) with an event_count below 0 or not a whole number",
        "event_count=2.5",
        "lifecycle ingest",
    )
    assert "customers.parquet" not in line.split("rows no feature can use")[1].split("not in")[0]


def test_a_clean_contract_has_no_unusable_rows(tmp_path):
    """The generator's contract (events, margins, static attributes) passes the check: no false
    alarm on usable rows."""
    from features.snapshots import connect
    from features.synthetic import generate
    from features.unusable_rows import unusable_rows

    generate(tmp_path / "data", 300, 3)
    tables = connect(tmp_path / "data")
    assert unusable_rows(tables.customers, tables.transactions, tables.events) == []


def test_config_data_set_is_checked_too(tmp_path):
    """Without --data, train reads the config's ``data:``; a missing one is the same one line."""
    config = tmp_path / "elsewhere.yaml"
    config.write_text(f"name: elsewhere\ndata: {tmp_path / 'gone'}\n")
    assert_one_line_error(
        invoke(["train", "--config", str(config)]),
        f"data set {tmp_path / 'gone'}",
        "does not exist",
    )


def test_experiment_data_set_is_checked_too():
    """``experiment run NAME`` without --data reads experiments/NAME.yaml's ``data:`` (relative:
    data/synthetic, absent from the scratch working folder the tests run in)."""
    result = invoke(["experiment", "run", "baseline"])
    assert_one_line_error(result, "data set data/synthetic", "does not exist")


def test_plan_that_does_not_fit_names_the_config(short_history, tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text("name: short\ndescription: too little data\n")
    for args in (
        ["train", "--config", str(config), "--data", str(short_history)],
        [
            "tune",
            "--config",
            str(config),
            "--data",
            str(short_history),
            "--out",
            str(tmp_path / "t.yaml"),
        ],
    ):
        assert_one_line_error(invoke(args), "short.yaml", "not enough history")
    shorter = ["--churn-horizon-days", "14", "--value-horizon-days", "21"]
    result = invoke(["train", "--config", str(config), "--data", str(short_history), *shorter])
    assert_one_line_error(result, "short.yaml", "horizon 21 days")  # the override is the plan's


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "name: bad\nfeatures:\n  famlies: [rfm]\n",
            ["bad.yaml", "features.famlies", "Extra inputs"],
        ),
        ("name: bad\nsnapshots: {n_train: 0}\n", ["bad.yaml", "snapshots.n_train"]),
        ("name: bad\nfeatures: [rfm\n", ["bad.yaml", "not valid YAML"]),
    ],
)
def test_bad_config_is_one_line_naming_file_and_field(text, needles, short_history, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    for command in ("train", "tune", "backtest"):
        args = data_set_args(short_history, tmp_path)[command]
        args[args.index("--config") + 1] = str(config)
        assert_one_line_error(invoke(args), *needles)


def test_missing_config_is_one_line(short_history, tmp_path):
    args = data_set_args(short_history, tmp_path)["train"]
    args[args.index("--config") + 1] = str(tmp_path / "nope.yaml")
    assert_one_line_error(invoke(args), "nope.yaml", "does not exist")


def test_score_without_a_champion_is_one_line(short_history, tmp_path):
    store = f"sqlite:///{tmp_path / 'empty-store.db'}"
    result = invoke(data_set_args(short_history, tmp_path)["score"] + ["--tracking-uri", store])
    assert_one_line_error(result, "champion")
    assert not (tmp_path / "s.parquet").exists()


def test_compare_on_an_empty_store_is_one_line(tmp_path):
    result = invoke(
        [
            "compare",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'empty.db'}",
            "--out",
            str(tmp_path / "c.html"),
        ]
    )
    assert_one_line_error(result, "run")
    assert not (tmp_path / "c.html").exists()


def test_compare_refuses_an_unknown_kind_before_reading_the_store(tmp_path):
    store = tmp_path / "never.db"
    result = invoke(["compare", "--kind", "trian", "--tracking-uri", f"sqlite:///{store}"])
    assert_one_line_error(result, "--kind 'trian'", "train, backtest, uplift")
    assert not store.exists()


def test_the_mlflow_store_comes_from_the_option_or_mlflow_tracking_uri(
    short_history, tmp_path, monkeypatch
):
    """Every command that tracks takes ``--tracking-uri``, defaulting to MLFLOW_TRACKING_URI (as
    the service does; for config-driven commands after the YAML's own store): ``train`` used to
    write ./mlflow.db whatever the environment said."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "short.yaml"
    config.write_text("name: short\ndescription: too little data\n")
    from_env = tmp_path / "from-env.db"
    train = ["train", "--config", str(config), "--data", str(short_history)]
    result = invoke(train, MLFLOW_TRACKING_URI=f"sqlite:///{from_env}")
    assert_one_line_error(result, "not enough history")  # after the store was opened
    assert from_env.exists() and not Path("mlflow.db").exists()
    from mlflow.tracking import MlflowClient

    (made,) = [
        e for e in MlflowClient(f"sqlite:///{from_env}").search_experiments() if e.name != "Default"
    ]
    assert made.artifact_location == (tmp_path / "mlruns").resolve().as_uri()  # beside the store
    flag = tmp_path / "flag.db"
    result = invoke([*train, "--tracking-uri", f"sqlite:///{flag}"], MLFLOW_TRACKING_URI="x://")
    assert_one_line_error(result, "not enough history")
    assert flag.exists()
    # a store the YAML names is the config's choice: the environment does not move it
    own = tmp_path / "own.db"
    config.write_text(f"name: short\ntracking:\n  tracking_uri: sqlite:///{own}\n")
    assert_one_line_error(invoke(train, MLFLOW_TRACKING_URI="x://"), "not enough history")
    assert own.exists()
    empty = tmp_path / "empty.db"
    compare = ["compare", "--out", str(tmp_path / "c.html")]
    said = invoke(compare, MLFLOW_TRACKING_URI=f"sqlite:///{empty}")
    assert_one_line_error(said, "no MLflow store at")  # it looked there: said, not created
    assert not empty.exists()
    for command in ("train", "tune", "backtest", "score", "compare", "monitor"):
        assert "--tracking-uri" in invoke([command, "--help"]).output, command


def test_ingest_of_a_missing_export_fails_without_a_traceback(tmp_path):
    result = invoke(
        ["ingest", "--transactions", str(tmp_path / "orders.csv"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "orders.csv" in result.stderr


def test_export_of_missing_scores_is_one_line(tmp_path):
    if "export" not in commands():
        pytest.skip("no export command in this checkout")
    result = invoke(
        [
            "export",
            "--to",
            "csv",
            "--scores",
            str(tmp_path / "none.parquet"),
            "--exports-dir",
            str(tmp_path / "exports"),
        ]
    )
    assert_one_line_error(result, "none.parquet", "lifecycle score")


def test_generate_into_a_file_is_one_line(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    assert_one_line_error(invoke(["generate", "--customers", "10", "--out", str(target)]), "taken")


def test_bad_dates_are_one_line(short_history, tmp_path):
    args = data_set_args(short_history, tmp_path)["backtest"]
    args[args.index("--cutoff") + 1] = "01/10/1997"
    assert_one_line_error(invoke(args), "--cutoff", "'01/10/1997'", "YYYY-MM-DD")


def test_debug_shows_the_traceback(short_history, tmp_path):
    args = data_set_args(short_history, tmp_path)["train"]
    args[args.index("--config") + 1] = str(tmp_path / "nope.yaml")
    result = invoke(args, LIFECYCLE_DEBUG="1")
    assert isinstance(result.exception, ConfigError)


def test_only_user_errors_become_one_line():
    assert user_error(ConfigError("a.yaml: x: bad")) == "a.yaml: x: bad"
    assert user_error(PlanError("not enough history")) == "not enough history"
    assert user_error(FileNotFoundError("f.csv: missing")) == "f.csv: missing"
    assert user_error(LookupError("no champion")) == "no champion"
    for bug in (
        KeyError("k"),
        IndexError(0),
        TypeError("t"),
        ZeroDivisionError(),
        AttributeError("a"),
    ):
        assert user_error(bug) is None


@pytest.mark.slow
def test_installed_command_answers_in_one_line(tmp_path):
    """The real entry point in a subprocess: what a user sees in a terminal."""
    lifecycle = Path(sys.executable).with_name("lifecycle")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("LIFECYCLE_DEBUG", None)
    run = subprocess.run(
        [str(lifecycle), "train", "--config", str(CONFIG), "--data", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    none = tmp_path / "none"
    expected = (
        f"error: data set {none}: the directory does not exist; "
        f"run `lifecycle ingest --out {none}` or `lifecycle generate --out {none}` first"
    )
    assert run.stderr.strip().splitlines() == [expected]


def test_scores_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A disk that fills up while the CSV is written leaves the previous scores, snapshot and CSV
    as they were (nothing half-written under a final name) and names the file."""
    import errno

    import pandas as pd

    from serving.batch import write_scores

    out = tmp_path / "scores.parquet"
    old = pd.DataFrame({"customer_id": ["a"], "x": [1.0]})
    write_scores(out, old, old, old)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["scores.csv", "scores.parquet", "scores.snapshot.parquet"]

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    new = pd.DataFrame({"customer_id": ["b", "c"], "x": [2.0, 3.0]})
    with pytest.raises(OSError, match=r"scores.csv: cannot write the scores .*none replaced"):
        write_scores(out, new, new, new)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no .partial left


def test_a_full_disk_under_the_mlflow_store_is_one_line():
    from mlflow.exceptions import MlflowException

    from lifecycle_cli.errors import user_error

    full = MlflowException("(sqlite3.OperationalError) database or disk is full\n[SQL: INSERT ...]")
    message = user_error(full)
    assert message and message.startswith("the disk of the MLflow store ") and "\n" not in message
    assert user_error(MlflowException("some bug")) is None  # other MLflow errors stay tracebacks
    import typer

    try:  # the Exit of an error already reported (its context: a full disk) stays an Exit
        try:
            raise OSError(28, "database or disk is full")
        except OSError:
            raise typer.Exit(2) from None
    except typer.Exit as done:
        assert user_error(done) is None


def test_a_damaged_page_under_a_whole_footer_names_the_file(tmp_path):
    """Bytes garbled inside a column's pages (the footer intact, so the schema check passes):
    the engine fails mid-read; the error names the file instead of a DuckDB traceback."""
    import pyarrow.parquet as pq

    ids = [f"c{i}" for i in range(3000)]
    days = [
        f"2023-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}" for i in range(3000)
    ]
    data = write_contract(
        tmp_path / "damaged",
        customers_frame(ids),
        transactions_frame(ids, days, [float(i % 97) + 0.5 for i in range(3000)]),
    )
    path = data / "transactions.parquet"
    column = next(
        c
        for c in (pq.ParquetFile(path).metadata.row_group(0).column(i) for i in range(3))
        if c.path_in_schema == "ordered_at"
    )
    raw = bytearray(path.read_bytes())
    start = column.data_page_offset + column.total_compressed_size // 3
    raw[start : start + 200] = b"\x5a" * 200
    path.write_bytes(bytes(raw))
    result = invoke(data_set_args(data, tmp_path)["features"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert f"data set {data}: transactions.parquet is damaged" in line


def _no_buyers(root: Path) -> Path:
    """Eighteen months of orders that are all of amount 0 (no purchase), 120 customers."""
    ids = [f"c{i}" for i in range(120)]
    days = pd.date_range("2023-01-01", "2024-06-30", freq="7D")
    rows = [(c, d) for i, c in enumerate(ids) for d in days[i % 7 :: 11]]
    return write_contract(
        root,
        customers_frame(ids),
        transactions_frame(
            [c for c, _ in rows], [str(d.date()) for _, d in rows], [0.0] * len(rows)
        ),
    )


def test_data_without_a_purchase_or_a_cutoff_before_the_data_is_one_line(tmp_path):
    """Orders all of amount 0, or a backtest cutoff at or before the first day, crashed in
    LightGBM ("Input data must be 2 dimensional and non empty") with a traceback."""
    data = _no_buyers(tmp_path / "zero")
    shorter = ["--churn-horizon-days", "30", "--value-horizon-days", "30"]
    config = str(REPO / "experiments" / "btyd-features.yaml")
    backtest = ["backtest", "--data", str(data), "--horizon-days", "30"]
    backtest += ["--out", str(tmp_path / "b.json"), "--config", config]
    for args, needle in (
        (["train", "--config", config, "--data", str(data), *shorter], "amount above 0"),
        ([*backtest, "--cutoff", "2024-03-01"], "amount above 0"),
        ([*backtest, "--cutoff", "2022-06-01"], "not after the data's first day"),
    ):
        result = invoke(args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        last = result.stderr.strip().splitlines()[-1]  # after the progress lines
        assert last.startswith("error: ") and needle in last, last


def test_customers_after_the_last_transaction_are_named_when_scoring(tmp_path, capsys):
    """A customers export pulled after the orders: its newest customers fell outside the default
    scoring date (the day after the last transaction) without a word."""
    from lifecycle_cli.score_commands import _scoring_day

    customers = customers_frame(["a", "b", "c", "d"])
    customers.loc[2:, "signup_at"] = pd.Timestamp("2023-03-05")  # after the last order
    data = write_contract(
        tmp_path / "late",
        customers,
        transactions_frame(["a", "b"], ["2023-01-01", "2023-03-01"], [10.0, 20.0]),
    )
    assert str(_scoring_day(data, None)) == "2023-03-02"
    assert "warning: 2 customers of the customers table first appear on or after 2023-03-02" in (
        capsys.readouterr().err
    )
    _scoring_day(data, pd.Timestamp("2023-03-10").date())  # asked for: no warning
    assert "first appear" not in capsys.readouterr().err


def test_events_running_weeks_past_the_last_order_are_named_when_scoring(tmp_path, capsys):
    """An orders export cut short (a month missing) while the events run on: the default date
    (the day after the last order) was scored and monitored without a word."""
    from lifecycle_cli.score_commands import _scoring_day

    data = write_contract(
        tmp_path / "cut",
        customers_frame(["a", "b"]),
        transactions_frame(["a", "b"], ["2023-01-01", "2023-03-01"], [10.0, 20.0]),
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2023-03-10", "2023-04-02"]).astype("datetime64[us]"),
            "event_type": ["visit", "visit"],
        }
    )
    events.to_parquet(data / "events.parquet", index=False)
    assert str(_scoring_day(data, None)) == "2023-03-02"
    said = capsys.readouterr().err
    assert (
        "the transactions end 2023-03-02 (the day after the last one) but the events run to "
        in (said)
        and "2023-04-02" in said
    )
    events.assign(occurred_at=pd.Timestamp("2023-03-10")).to_parquet(data / "events.parquet")
    _scoring_day(data, None)  # a week of events after the last order: a quiet week, not warned
    said = capsys.readouterr().err
    assert "events run to" not in said
    # but the events left out are counted (an app's last days of opens after sparse purchases)
    assert (
        "note: 2 events dated 2023-03-02 .. 2023-03-10 are on or after the date scored, "
        "2023-03-02 (the day after the last transaction), and are not used; --as-of 2023-03-11 "
        "uses them"
    ) in said


def test_a_history_of_one_month_is_named_when_scoring(tmp_path, capsys):
    """The last month's orders ingested alone (ingest replaces --out whole) were scored with a
    pair trained on years: most customers became prospects, without a word."""
    from lifecycle_cli.score_commands import _scoring_day

    customers = customers_frame(["a", "b", "c"])
    customers["signup_at"] = pd.Timestamp("2022-01-01")
    month = transactions_frame(["a", "b"], ["2023-02-01", "2023-02-20"], [10.0, 20.0])
    _scoring_day(write_contract(tmp_path / "month", customers, month), None)
    said = capsys.readouterr().err
    assert (
        "warning: the transactions begin 2023-02-01, only 20 days before 2023-02-21, while 3 "
        "customers signed up more than 30 days before the first transaction" in said
    )
    years = transactions_frame(["a", "b"], ["2022-01-05", "2023-02-20"], [10.0, 20.0])
    _scoring_day(write_contract(tmp_path / "years", customers, years), None)
    assert "transactions begin" not in capsys.readouterr().err
    young = customers.assign(signup_at=pd.Timestamp("2023-01-20"))  # a business a month old
    _scoring_day(write_contract(tmp_path / "young", young, month), None)
    assert "transactions begin" not in capsys.readouterr().err


def test_a_week_missing_from_the_orders_is_named_when_scoring(tmp_path, capsys):
    """A week of orders missing mid-export (about 30 a week around it) or at its end was
    scored, monitored and retrained on without a word: those customers simply looked quiet."""
    from lifecycle_cli.score_commands import _scoring_day

    days = pd.date_range("2024-01-01", "2024-06-30 18:00", freq="5h")
    ids = [f"c{i % 40}" for i in range(len(days))]
    orders = transactions_frame(ids, [str(d) for d in days], [10.0] * len(days))
    gap = (orders["ordered_at"] >= "2024-05-06") & (orders["ordered_at"] < "2024-05-13")
    data = write_contract(tmp_path / "gap", customers_frame(sorted(set(ids))), orders[~gap])
    assert str(_scoring_day(data, None)) == "2024-07-01"
    said = capsys.readouterr().err
    assert "weeks with almost no orders before 2024-07-01 (2024-05-06..2024-05-12: 0 orders" in said
    _scoring_day(data, date(2024, 7, 8))  # a scheduled date a week on: the last week is empty
    assert "2024-07-01..2024-07-07: 0 orders" in capsys.readouterr().err
    whole = write_contract(tmp_path / "whole", customers_frame(sorted(set(ids))), orders)
    _scoring_day(whole, None)
    assert "almost no orders" not in capsys.readouterr().err
    # a 7-day gap from a Thursday: counted back from a Monday it split across two weeks,
    # each keeping half its orders, and was not named
    from features.gaps import week_gaps

    across = (orders["ordered_at"] >= "2024-05-09") & (orders["ordered_at"] < "2024-05-16")
    said = week_gaps(orders.loc[~across, "ordered_at"], pd.Timestamp("2024-07-01"))
    assert said is not None and "(2024-05-09..2024-05-15: 0 orders" in said
    # a date soon after the data begin: the empty weeks before them are no gap (CDNOW at
    # 1997-03-01 read "1996-12-21..1996-12-27: 0 orders, about 348 a week"); nor is a launch
    from features.gaps import month_gaps, week_gaps

    assert week_gaps(orders["ordered_at"], pd.Timestamp("2024-02-15")) is None
    ramp = pd.Series(pd.to_datetime(["2024-01-20"] * 8 + ["2024-02-10"] * 70 + ["2024-03-10"] * 400
                                    + ["2024-04-10"] * 520 + ["2024-05-10"] * 510))  # fmt: skip
    assert month_gaps(ramp) is None


def test_every_week_of_a_gap_several_weeks_long_is_named():
    """Each week was judged against the two weeks on each side, so the first and last weeks of a
    three-week gap (their neighbours empty) were not named, and no week of a gap of four weeks
    or more: a month-long hole in the orders, or a tracking feed down a month, said nothing."""
    from features.gaps import month_gaps, week_gaps

    days = pd.Series(pd.date_range("2024-01-01", "2024-06-30 18:00", freq="5h"))
    for start, weeks in (("2024-05-06", 3), ("2024-04-29", 4), ("2024-04-08", 6)):
        gap = (days >= start) & (days < pd.Timestamp(start) + pd.Timedelta(weeks=weeks))
        said = week_gaps(days[~gap], pd.Timestamp("2024-07-01")) or ""
        named = [
            f"{d:%Y-%m-%d}..{d + pd.Timedelta(days=6):%Y-%m-%d}: 0 orders"
            for d in pd.date_range(start, periods=weeks, freq="7D")
        ]
        assert all(week in said for week in named), (weeks, said)
    # the months: a two-month hole is named too (March and April 2024)
    gap = (days >= "2024-03-01") & (days < "2024-05-01")
    said = month_gaps(days[~gap]) or ""
    assert "2024-03 (0 rows" in said and "2024-04 (0 rows" in said


def test_weeks_missing_from_the_events_are_named_while_the_orders_go_on(tmp_path, capsys):
    """A shop's Klaviyo feed stopped for three weeks (2025-06-02..22) while its Shopify orders
    went on: monitor ALERTed on days_since_last_event and email_open_30d as if customers had
    disengaged, and nothing said the events export had a gap (helper monitor49)."""
    from lifecycle_cli.score_commands import _scoring_day

    days = pd.date_range("2025-01-01", "2025-06-29 18:00", freq="5h")
    ids = [f"c{i % 40}" for i in range(len(days))]
    orders = transactions_frame(ids, [str(d) for d in days], [10.0] * len(days))
    data = write_contract(tmp_path / "outage", customers_frame(sorted(set(ids))), orders)
    opens = pd.date_range("2025-01-01", "2025-06-29 20:00", freq="2h")
    stopped = (opens >= "2025-06-02") & (opens < "2025-06-23")
    pd.DataFrame(
        {
            "customer_id": pd.Series([f"c{i % 40}" for i in range(len(opens))], dtype=str),
            "occurred_at": opens.astype("datetime64[us]"),
            "event_type": "email_open",
        }
    )[~stopped].to_parquet(data / "events.parquet", index=False)
    _scoring_day(data, date(2025, 6, 9))  # the week the feed stopped: its last week is empty
    said = capsys.readouterr().err
    assert "almost no orders" not in said
    assert "weeks with almost no events before 2025-06-09 (2025-06-02..2025-06-08: 0 events" in said
    assert "drift in those features is the feed's, not the customers'" in said
    _scoring_day(data, date(2025, 6, 30))  # the feed back: the gap stays named, all of it
    said = capsys.readouterr().err
    assert (
        "(2025-06-02..2025-06-08: 0 events" in said and "2025-06-16..2025-06-22: 0 events" in said
    )


def test_a_feed_with_a_rhythm_of_quiet_weeks_has_no_gap():
    """E-mail opens of a newsletter sent every 14 (or 28) days: most opens come in the days
    after a send, so every other week (two or three weeks a month) holds almost none. Every such
    week was named a gap in the events export (13 and 18 of 26 weeks), at every score, monitor
    and retrain; a quiet week that recurs is the feed's rhythm, not a gap."""
    import numpy as np

    from features.gaps import week_gaps

    rng = np.random.default_rng(3)
    before = pd.Timestamp("2025-07-01")
    for period in (14, 28):
        sends = pd.date_range(before - pd.Timedelta(weeks=30), before, freq=f"{period}D")
        opens = pd.Series(np.concatenate([
            (send + pd.to_timedelta(rng.exponential(1.5, 900), unit="D")).to_numpy()
            for send in sends
        ]))  # fmt: skip
        assert week_gaps(opens[opens < before], before, rows="events") is None, period


def test_week_gaps_of_rows_counted_per_day_are_those_of_the_rows():
    """The events' gap check counts them per day on the engine (9.4 million recent events read
    into pandas took 751 MB): the same weeks named as from the rows themselves."""
    import numpy as np

    from features.gaps import week_gaps

    rng = np.random.default_rng(5)
    before = pd.Timestamp("2025-07-01")
    seen = before - pd.to_timedelta(rng.uniform(0, 7 * 26, 20_000), unit="D")
    seen = pd.Series(
        seen[(seen < before - pd.Timedelta(days=40)) | (seen > before - pd.Timedelta(days=19))]
    )
    said = week_gaps(seen, before, rows="events")
    assert said and "0 events" in said
    per_day = seen.dt.normalize().value_counts()
    assert week_gaps(pd.Series(per_day.index), before, "events", per_day.to_numpy()) == said


def test_a_few_rows_past_the_export_day_are_named_with_the_date_to_score_at(tmp_path, capsys):
    """Stripe invoices exported on 2025-12-15 held four rows dated up to 2025-12-20 (retried
    payments, credit notes): the default date, the day after the last transaction, scored 43
    monthly payers due on the days between as declining; the warning said only 're-export'."""
    from lifecycle_cli.score_commands import _scoring_day

    days = pd.date_range("2024-01-01", "2024-06-30 23:00", freq="h")
    late = [f"2024-07-0{d} 10:00:00" for d in (3, 5, 7, 9)]
    ids = [f"c{i % 40}" for i in range(len(days) + len(late))]
    orders = transactions_frame(ids, [str(d) for d in days] + late, [10.0] * len(ids))
    data = write_contract(tmp_path / "late", customers_frame(sorted(set(ids))), orders)
    assert str(_scoring_day(data, None)) == "2024-07-10"
    said = capsys.readouterr().err
    assert "weeks with almost no orders before 2024-07-10" in said
    assert (
        "or was the export taken about 2024-07-01? The orders thin out after 2024-06-30 (4 on "
        "the 9 days after it, about 24 a day before)"
        in said
        and said.rstrip().endswith("then pass --as-of 2024-07-01")
    )
    _scoring_day(data, date(2024, 7, 1))  # the date it says: no gap before it
    assert "almost no orders" not in capsys.readouterr().err
    _scoring_day(data, date(2024, 7, 12))  # a date given: its last week is thin, no default moved
    assert "almost no orders" in (said := capsys.readouterr().err) and "--as-of" not in said


def test_the_metric_table_keeps_large_money_in_its_columns():
    """A rupiah shop's MAE (2,828,576.93) and BTYD's ran together: 2828576.93444616802.9370."""
    from lifecycle_cli.model_commands import _metric_cell

    assert _metric_cell(0.93881) == "0.9388" and _metric_cell(6802.937) == "6802.9370"
    assert _metric_cell(2828576.934446168) == "2828577"
    assert all(len(_metric_cell(v)) <= 11 for v in (2.8e9, 2.76e10, 1.2e14, -3.3e12))


def test_monitor_out_naming_a_file_is_refused_before_any_work(short_history, tmp_path):
    """--out is monitor's folder: a file there was a raw "[Errno 17] File exists" after the whole
    monitoring run (drift, rescoring) had been done."""
    taken = tmp_path / "report.json"
    taken.write_text("mine")
    result = invoke(["monitor", "--data", str(short_history), "--out", str(taken)])
    assert_one_line_error(result, f"--out {taken}: is a file")
    assert taken.read_text() == "mine"


def test_a_damaged_mlflow_store_is_one_line_not_a_traceback(tmp_path):
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 200)  # cut and garbled
    result = invoke(["compare", "--kind", "train", "--tracking-uri", f"sqlite:///{store}"])
    assert_one_line_error(result, "a SQLite database this command uses is damaged", "backup")


def test_ingest_takes_several_exports_of_a_table(tmp_path):
    """`--transactions` repeated, or a quoted pattern: every file is read (before, a repeated
    option kept the last file only, exit 0); a pattern matching nothing is one line."""
    for month, rows in (("01", "a,2024-01-05,10\nb,2024-01-20,20\n"), ("02", "a,2024-02-03,30\n")):
        (tmp_path / f"orders_{month}.csv").write_text("customer_id,ordered_at,amount\n" + rows)
    first, second = (str(tmp_path / f"orders_{m}.csv") for m in ("01", "02"))
    for args in (
        ["--transactions", first, "--transactions", second],
        ["--transactions", str(tmp_path / "orders_*.csv")],
    ):
        result = invoke(["ingest", *args, "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        assert "2 files together: 3 rows read, 3 accepted, 0 quarantined" in result.stderr
        assert len(pd.read_parquet(tmp_path / "out" / "transactions.parquet")) == 3
    assert_one_line_error(
        invoke(
            ["ingest", "--transactions", str(tmp_path / "x_*.csv"), "--out", str(tmp_path / "o")]
        ),
        "x_*.csv: the pattern matches no file",
    )
    # the pattern unquoted: the shell gives --transactions its first file, the rest loose
    assert_one_line_error(
        invoke(["ingest", "--transactions", first, second, "--out", str(tmp_path / "o")]),
        "orders_02.csv: files given without an option (an unquoted pattern",
    )


def test_tune_help_names_where_the_tuned_config_goes():
    """Without --out, `lifecycle tune` writes experiments/<name>-tuned.yaml
    (``training.tune.tune``); its help said only "Where to write the tuned config."."""
    out = next(p for p in commands()["tune"].params if p.name == "out")
    assert "experiments/NAME-tuned.yaml" in (out.help or "")


@pytest.mark.parametrize("command", ["train", "retrain"])
def test_a_bad_scoring_section_stops_before_any_training(tmp_path, command):
    """The experiment YAML's ``scoring:`` is stored with the pair training registers; a key the
    scoring config does not have is one error line naming the file and the key, before the
    training (not after minutes of fitting)."""
    config = tmp_path / "mine.yaml"
    config.write_text(
        CONFIG.read_text() + "scoring:\n  stages: {default_gap: 365}\n", encoding="utf-8"
    )
    data = tmp_path / "shop"
    write_contract(
        data,
        pd.DataFrame({"customer_id": ["a"], "signup_at": pd.to_datetime(["2024-01-01"])}),
        pd.DataFrame(
            {
                "customer_id": ["a"],
                "ordered_at": pd.to_datetime(["2024-02-01"]),
                "amount": [10.0],
            }
        ),
    )
    args = [command, "--config", str(config), "--data", str(data)]
    if command == "retrain":
        args += ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
        args += ["--state", str(tmp_path / "state"), "--out", str(tmp_path / "monitor")]
    assert_one_line_error(invoke(args), "mine.yaml: scoring", "stages.default_gap")


def test_retrain_takes_the_project_of_its_config_as_train_does(tmp_path, monkeypatch):
    """README: the project is --project, else the config's project:, else the data directory's
    name. `lifecycle retrain --config x.yaml` ignored project: and retrained a project named
    after the data directory: another champion, another lock, beside the one `lifecycle train
    --config x.yaml` had registered."""
    import serving.retrain

    seen: list[str] = []

    def fake_retrain(settings, log):
        seen.append(settings.project)
        raise ConfigError("stop here")

    monkeypatch.setattr(serving.retrain, "retrain", fake_retrain)
    config = tmp_path / "mine.yaml"
    config.write_text(CONFIG.read_text() + "project: crm-main\n", encoding="utf-8")
    data = tmp_path / "shop"
    write_contract(
        data,
        pd.DataFrame({"customer_id": ["a"], "signup_at": pd.to_datetime(["2024-01-01"])}),
        pd.DataFrame(
            {"customer_id": ["a"], "ordered_at": pd.to_datetime(["2024-02-01"]), "amount": [1.0]}
        ),
    )
    base = ["retrain", "--config", str(config), "--data", str(data)]
    base += ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    invoke(base)
    invoke([*base, "--project", "other"])
    plain = tmp_path / "plain.yaml"
    plain.write_text(CONFIG.read_text(), encoding="utf-8")
    invoke([*base[:2], str(plain), *base[3:]])
    assert seen == ["crm-main", "other", "shop"]
