"""The ``lifecycle`` command: every subcommand registered once, in the order ``--help`` lists."""

from __future__ import annotations

import typer

from lifecycle_cli import (
    data_commands,
    experiment_commands,
    model_commands,
    operation_commands,
    score_commands,
    uplift_command,
)
from lifecycle_cli.errors import OneLineUserErrors

app = typer.Typer(
    cls=OneLineUserErrors,
    help="Customer lifecycle platform: ingest CRM data, build point-in-time features, "
    "train churn and CLV models, backtest, and score customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
experiment_app = typer.Typer(
    help="Run experiments defined in experiments/*.yaml.", no_args_is_help=True
)
app.add_typer(experiment_app, name="experiment")

for command in (
    data_commands.ingest,
    data_commands.generate,
    data_commands.features,
    model_commands.train,
    model_commands.tune,
    model_commands.backtest,
    score_commands.score,
    experiment_commands.compare,
    score_commands.export,
    uplift_command.uplift,
    operation_commands.monitor,
    operation_commands.retrain,
    operation_commands.prune,
):
    app.command()(command)
experiment_app.command("run")(experiment_commands.experiment_run)
