"""What the Makefile's targets run (``make -n``: printed, not run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]


def _planned(*args: str) -> str:
    """The commands ``make -n`` prints, the install step taken as done."""
    done = ["-o", "install", "-o", ".venv/bin/.installed"]
    return subprocess.run(
        ["make", "-n", "-s", *done, *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_experiment_keeps_the_yamls_data_unless_data_is_given() -> None:
    """`make experiment NAME=cdnow` trained CDNOW's config on the synthetic data (the Makefile
    always passed --data data/synthetic) and logged it as synthetic/cdnow."""
    assert "--data" not in _planned("experiment", "NAME=cdnow").splitlines()[-1]
    assert (
        _planned("experiment", "NAME=cdnow", "DATA=data/x")
        .splitlines()[-1]
        .endswith("experiment run cdnow --data data/x")
    )
