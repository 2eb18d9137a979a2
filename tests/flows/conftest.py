"""Prefect for the flow tests: one test server for the session (each start costs seconds), a real
`prefect server start` for the operations and UI tests, and helpers to wait on HTTP."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browse(tmp_path):
    """browse(url, name): headless Chromium renders the page, saves test-artifacts/<name>.png (look
    at them) and returns the rendered DOM. Skips where Chromium is missing (.ci/run installs it)."""
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it)")

    def render(url: str, name: str, budget_ms: int = 25000) -> str:
        SHOTS.mkdir(exist_ok=True)
        flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                 f"--user-data-dir={tmp_path / ('chrome-' + name)}", "--window-size=1440,1800",
                 f"--virtual-time-budget={budget_ms}", "--hide-scrollbars"]
        subprocess.run([*flags, f"--screenshot={SHOTS / (name + '.png')}", url], capture_output=True, timeout=180)
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, f"{name}: an empty screenshot"
        return subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout

    return render
