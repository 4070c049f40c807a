"""End-to-end: the real CLI as a user runs it, against a background emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from globalguide.emulator.session import bearer


def run_cli(*args: str, timeout: float = 300, check: bool = True, env: dict | None = None):
    """Run `globalguide ARGS` in a fresh process; returns CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "globalguide", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"globalguide {' '.join(args)} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
        )
    return proc


def run_json(*args: str, **kwargs) -> dict:
    proc = run_cli(*args, "--json", **kwargs)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def local_emulator():
    """A background emulator for the module, stopped (with all it started) afterwards."""
    info = run_json("emulator", "start")
    yield info
    run_cli("emulator", "stop", check=False)


def emulator_requests(endpoint: str) -> list[dict]:
    return requests.get(
        f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=10
    ).json()


def clear_requests(endpoint: str) -> None:
    requests.delete(f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=10)
