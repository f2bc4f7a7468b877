"""A small real disk for full-disk tests: a tmpfs mounted on a test's folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def mount_tmpfs(disk: Path, size: str) -> Path:
    """Mount a tmpfs of ``size`` (``200k``, ``6m``) on ``disk`` (created); skip the test where
    mounting is not allowed. The caller unmounts it (``umount``)."""
    disk.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    return disk
