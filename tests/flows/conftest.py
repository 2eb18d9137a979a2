"""Prefect for the flow tests: one test server for the session (each start costs seconds), one real
`prefect server start` for the session's operations, UI and Dask tests, one run of the whole flow
that several tests read, and headless Chromium."""

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from automl.config import RunConfig, parse_config
from flows.pipeline import automl_pipeline
from flows.temporary_server import copy_template, template_file
from tests.servers import free_port, serving


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """One Prefect test server (temporary SQLite) for the whole session: each start costs seconds."""
    with prefect_test_harness(server_startup_timeout=300):  # a loaded 2-core machine needs minutes
        yield


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `prefect server start` (scheduler ticking every second, UI on), in its own home, for
    every test of the session that needs one (the operations, UI and Dask tests)."""
    home = tmp_path_factory.mktemp("prefect-server")
    # The migrated database the session's first fresh home left in automl's cache, where one did:
    # `prefect server start` then finds nothing to migrate.
    copy_template(home / "prefect.db", template_file())
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {"PREFECT_UI_API_URL": url,  # the UI otherwise calls port 4200 whatever --port says
           **os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    with serving(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], f"{url}/health",
                 home / "server.log", env), temporary_settings({PREFECT_API_URL: url}):
        yield url


class LogLines(logging.Handler):
    """Keeps the messages of the records it is handed."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class FlowRun:
    """What one run of the flow returned, with its config and its tasks' log lines."""

    config: RunConfig
    summary: dict
    task_log: list[str]


@pytest.fixture(scope="session")
def whole_run(tmp_path_factory, store_settings) -> FlowRun:
    """One run of the whole flow over three families (the MLP trains by epochs), read by the tests of
    what a run leaves: test_pipeline_flow's (the stores, the registry, the flow run) and test_ui's
    (the MLflow UI on its store). One run, not one per module: each costs tens of seconds."""
    store = tmp_path_factory.mktemp("whole-run") / "mlruns"
    config = parse_config({"name": "e2e", "search": {"n_trials": 6, "cv_folds": 2,
                                                     "families": ["linear", "extra_trees", "mlp"]},
                           "tracking": store_settings(store)})
    logger = logging.getLogger("prefect.task_runs")  # progress lines come from the search task
    lines, level = LogLines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        summary = automl_pipeline(config)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return FlowRun(config, summary, lines.lines)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browse(tmp_path):
    """browse(url, name, until=texts): headless Chromium renders the page (again, with a longer budget,
    while a text of `until` is missing), saves test-artifacts/<name>.png (look at them) and returns
    the rendered DOM. Skips where Chromium is missing (.ci/run installs it)."""
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it)")

    def render(url: str, name: str, budget_ms: int = 25000, until: tuple[str, ...] = ()) -> str:
        SHOTS.mkdir(exist_ok=True)
        dom = ""
        for tries, budget in enumerate((budget_ms, budget_ms * 2, budget_ms * 4)):
            # a busy machine draws late: render again, longer, until the page holds what the test reads
            flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                     f"--user-data-dir={tmp_path / f'chrome-{name}-{tries}'}", "--window-size=1440,1800",
                     f"--virtual-time-budget={budget}", "--hide-scrollbars"]
            # one render: the DOM on stdout, the screenshot of the same page beside it
            dom = subprocess.run([*flags, "--dump-dom", f"--screenshot={SHOTS / (name + '.png')}", url],
                                 capture_output=True, text=True, timeout=240).stdout
            if all(text in dom for text in until):
                break
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, f"{name}: an empty screenshot"
        return dom

    return render
