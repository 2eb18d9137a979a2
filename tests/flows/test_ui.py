"""What a person sees: the Prefect UI's run form for a deployment, and the MLflow UI comparing a run's
trials, rendered in headless Chromium. Screenshots go to test-artifacts/ (look at them)."""

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from automl.config import parse_config
from automl.pipeline import run_pipeline
from flows.deploy import build_deployment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]


def browse(url: str, name: str, tmp_path: Path) -> str:
    """Screenshot the page to test-artifacts/<name>.png and return its rendered DOM."""
    SHOTS.mkdir(exist_ok=True)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
             f"--user-data-dir={tmp_path / ('chrome-' + name)}", "--window-size=1440,1800",
             "--virtual-time-budget=25000", "--hide-scrollbars"]
    subprocess.run([*flags, f"--screenshot={SHOTS / (name + '.png')}", url], capture_output=True, timeout=180)
    return subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout


def test_prefect_ui_renders_the_run_form(server, tmp_path, store, store_settings):
    config = parse_config({"name": "form_demo", "search": {"n_trials": 5, "families": ["linear", "mlp"]},
                           "tracking": store_settings(store)})
    deployment_id = build_deployment(config).apply()
    dom = browse(f"{server.removesuffix('/api')}/deployments/deployment/{deployment_id}/run", "prefect-run-form", tmp_path)
    assert (SHOTS / "prefect-run-form.png").stat().st_size > 10_000
    for title in ("Data source", "Target column", "Trials", "Model families", "CV folds", "MLflow tracking URI"):
        assert title in dom, f"'{title}' is not on the run form"


def test_mlflow_ui_compares_a_runs_trials(tmp_path, store, store_settings, free_port, wait_for_http):
    config = parse_config({"name": "compare_demo", "search": {"n_trials": 4, "cv_folds": 2,
                                                              "families": ["linear", "extra_trees"]},
                           "tracking": store_settings(store)})
    result = run_pipeline(config)
    from mlflow import MlflowClient

    client = MlflowClient(config.tracking.tracking_uri)
    experiment = client.get_experiment_by_name("compare_demo").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", config.tracking.tracking_uri,
                           "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/health"), "mlflow ui did not start"
        runs = urllib.parse.quote(json.dumps([c.info.run_id for c in children]))
        url = f"http://127.0.0.1:{port}/#/compare-runs?runs={runs}&experiments=%5B%22{experiment}%22%5D"
        dom = browse(url, "mlflow-compare-trials", tmp_path)
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    names = sorted(c.info.run_name for c in children)
    assert len(names) == 4
    assert all(name in dom for name in names), "a trial run is missing from the comparison"
    assert "cv_score" in dom and "family" in dom
