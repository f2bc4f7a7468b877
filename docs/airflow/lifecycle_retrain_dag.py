"""Example Airflow DAG: the weekly retrain job of one project (an example, not a dependency).

Copy into your Airflow ``dags/`` folder and set the paths. ``lifecycle retrain`` holds its own
lock (a second run exits with a message) and resumes a killed run, so Airflow retries are safe;
it exits 3 when the monitor alerts, which fails the task and triggers Airflow's alerting.
A daily ``lifecycle monitor`` (the second DAG below) catches drift between retrains.

The service reads what the retrain wrote, and only at start-up: run it with
``LIFECYCLE_SNAPSHOT=/srv/lifecycle/scores/shop.snapshot.parquet`` and
``LIFECYCLE_SCORE_HISTORY=/srv/lifecycle/score_history`` (the retrain's ``--history``: by default
the service looks beside the snapshot, finds no history and gives the customers the tier hold kept
another tier than the export sends), and restart it after each retrain (a new snapshot is not
loaded in place, and ``/readyz`` calls it stale only when the champion changed).
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

REPO = "/srv/lifecycle"  # the checkout, with its .venv
DATA = "/srv/crm/contract/shop"  # refreshed by `lifecycle ingest` before this DAG runs
ENV = f"cd {REPO} && . .venv/bin/activate && "

with DAG(
    dag_id="lifecycle_retrain_shop",
    schedule="0 3 * * 1",  # Mondays 03:00
    start_date=datetime(2026, 1, 5),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
) as dag:
    ingest = BashOperator(
        task_id="ingest",
        bash_command=ENV + "lifecycle ingest --customers /srv/crm/export/customers.csv "
        f"--transactions /srv/crm/export/orders.csv --map-file maps/shop.yaml --out {DATA}",
    )
    retrain = BashOperator(
        task_id="retrain",
        bash_command=ENV
        + f"lifecycle retrain --data {DATA} --project shop --config experiments/engagement.yaml "
        "--tracking-uri sqlite:////srv/lifecycle/mlflow.db --history /srv/lifecycle/score_history "
        "--state /srv/lifecycle/retrain_state --out /srv/lifecycle/reports/monitor "
        "--scores /srv/lifecycle/scores/shop.parquet",
    )
    export = BashOperator(
        task_id="export",
        bash_command=ENV
        + "lifecycle export --to csv --crm salesforce --scores /srv/lifecycle/scores/shop.parquet "
        "--project shop",
    )
    ingest >> retrain >> export

with DAG(
    dag_id="lifecycle_monitor_shop",
    schedule="0 3 * * 0,2-6",  # the other days at 03:00 (Mondays the retrain monitors)
    start_date=datetime(2026, 1, 5),
    catchup=False,
    max_active_runs=1,
) as monitor_dag:
    fresh = BashOperator(  # the night's export: the same ingest as the retrain's
        task_id="ingest",
        bash_command=ingest.bash_command,
    )
    monitor = BashOperator(  # exit 3 on ALERT fails the task: Airflow's alerting tells someone
        task_id="monitor",
        bash_command=ENV + f"lifecycle monitor --data {DATA} --project shop "
        "--tracking-uri sqlite:////srv/lifecycle/mlflow.db --history /srv/lifecycle/score_history "
        "--out /srv/lifecycle/reports/monitor",
    )
    fresh >> monitor
