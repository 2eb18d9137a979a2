"""Prefect for the flow tests: one test server for the session (each start costs seconds), a real
`prefect server start` for the operations and UI tests, and helpers to wait on HTTP."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """One Prefect test server (temporary SQLite) for the whole session: each start costs seconds."""
    with prefect_test_harness(server_startup_timeout=60):
        yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_http(url: str, tries: int = 120) -> bool:
    """Poll `url` until it answers 200 (every 0.5 s, `tries` times)."""
    for _ in range(tries):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


@pytest.fixture(scope="session")
def free_port():
    return _free_port


@pytest.fixture(scope="session")
def wait_for_http():
    return _wait_for_http


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `prefect server start` (scheduler ticking every second, UI on), in its own home."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {"PREFECT_UI_API_URL": url,  # the UI otherwise calls port 4200 whatever --port says
           **os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    if not _wait_for_http(f"{url}/health"):
        process.terminate()
        pytest.fail(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
    with temporary_settings({PREFECT_API_URL: url}):
        yield url
    process.terminate()
    process.wait(timeout=30)
