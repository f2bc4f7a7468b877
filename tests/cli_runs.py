"""Running ``lifecycle`` commands in-process from tests."""

from __future__ import annotations


def cli_ok(args: list[str]) -> str:
    """The output of a ``lifecycle`` command that must succeed (MLflow's URI reset after it)."""
    import mlflow
    from typer.testing import CliRunner

    from lifecycle_cli import app

    try:
        result = CliRunner().invoke(app, args)
    finally:
        mlflow.set_tracking_uri(None)
    assert result.exit_code == 0, result.output
    return result.output
