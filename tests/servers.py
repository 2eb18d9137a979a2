"""Servers the tests start as their users start them (`prefect server start`, `mlflow server`,
`mlflow ui`, `mlflow models serve`): a free port, the process with its log, and one wait for its
health URL. The wait is bounded by a count of polls and fails naming the server, the URL and the
end of its log, so a server that never comes up is a clear failure, not a hang or a later error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# A poll every 0.5 s: 240 polls let a server start on a loaded 2-core machine (Prefect's takes the longest).
POLLS = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return "(no log)"
    return log.read_text(errors="replace")[-2000:]


def wait_for_http(url: str, process: subprocess.Popen | None = None, log: Path | None = None,
                  polls: int = POLLS) -> None:
    """Poll `url` until it answers 200; fail the test if `process` exits first or `polls` polls pass."""
    for _ in range(polls):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process is not None and process.poll() is not None:
            command = " ".join(map(str, process.args[2:4]))  # after `python -m`: "mlflow server"
            pytest.fail(f"{command} exited with code {process.returncode} before {url} answered; "
                        f"its log ends:\n{log_tail(log)}", pytrace=False)
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 in {polls} polls (every 0.5 s); the log ends:\n{log_tail(log)}",
                pytrace=False)


@contextmanager
def serving(module_args: list[str], health_url: str, log: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """`python -m <module_args>` with its output in `log`, up once `health_url` answers; ended after."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", *module_args], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_http(health_url, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
