"""The service flows on a Prefect server: automl-score writes what score_batch writes; automl-monitor
on a shifted batch starts the training deployment of the config that trained the champion (a flow
run with the monitoring run's id as a tag and as its `triggered_by` parameter; run, its MLflow
parent run names the monitoring run, which names the flow run) and on fresh rows starts nothing;
the HTML drift report renders in headless Chromium (test-artifacts/monitor-report.png: look at it)."""

import asyncio

import pandas as pd
import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.sorting import FlowRunSort

from automl.config import parse_config
from automl.service import RETRAIN_FLOW_RUN_TAG, html_report, monitor_batch
from flows.deploy import build_deployment
from flows.pipeline import MONITORING_RUN_TAG, automl_pipeline
from flows.service import RETRAIN_TAG, automl_monitor, automl_score
from tests.customers import customers

pytestmark = pytest.mark.e2e  # on the session's Prefect server (tests/flows/conftest.py)


def _tagged_runs(tag: str) -> list:
    async def read():
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])),
                                              sort=FlowRunSort.START_TIME_DESC, limit=10)

    return asyncio.run(read())


def test_score_flow(champion, tmp_path):
    _, uri, _, served = champion
    batch = customers(30, seed=31)
    batch.to_csv(tmp_path / "in.csv", index=False)
    summary = automl_score(model="models:/customers@champion", input=str(tmp_path / "in.csv"),
                           output=str(tmp_path / "out.parquet"), tracking_uri=uri, id_column="customer_id",
                           chunk_rows=8)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary["rows"] == 30 and list(out["customer_id"]) == list(batch["customer_id"])
    assert list(out["prediction"]) == list(served.predict(batch))


def test_drift_starts_the_training_deployment_and_no_drift_does_not(champion, server, tmp_path):
    from prefect.flow_engine import run_flow

    config, uri, _, _ = champion
    # automl-pipeline/customers, as `automl deploy` makes it; its retrains register under another name
    # (the session's champion stays customers v1) and search one trial
    values = config.model_dump(mode="json")
    retraining = parse_config({**values, "search": {"n_trials": 1, "cv_folds": 2, "families": ["linear"],
                                                    "ensemble": False},
                               "tracking": {**values["tracking"], "registered_model": "customers-retrained"}})
    build_deployment(retraining).apply()
    fresh, shifted = customers(600, seed=32), customers(600, seed=33)
    shifted["spend"] *= 4
    fresh.to_csv(tmp_path / "fresh.csv", index=False)
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    calm = automl_monitor(model="models:/customers@champion", input=str(tmp_path / "fresh.csv"), tracking_uri=uri)
    assert not calm["drifted"] and calm["retrain"] is None
    assert _tagged_runs(f"{RETRAIN_TAG}{calm['run_id']}") == []
    drift = automl_monitor(model="models:/customers@champion", input=str(tmp_path / "shifted.csv"), tracking_uri=uri)
    assert drift["drifted"] and drift["reasons"][0].startswith("spend: PSI")
    assert drift["retrain"].startswith("started flow run 'customers-retrain-")
    [retrain] = _tagged_runs(f"{RETRAIN_TAG}{drift['run_id']}")
    assert retrain.deployment_id is not None and retrain.parameters["config"]["name"] == "customers"
    assert retrain.parameters["triggered_by"] == drift["run_id"]
    # the retrain, run as a worker runs it (Prefect's engine, here in this process): linked both ways in MLflow
    summary = run_flow(automl_pipeline, flow_run=retrain)
    client = MlflowClient(uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.tags[MONITORING_RUN_TAG] == drift["run_id"]
    assert parent.data.tags["prefect.flow_run_id"] == str(retrain.id)
    assert client.get_run(drift["run_id"]).data.tags[RETRAIN_FLOW_RUN_TAG] == str(retrain.id)
    assert summary["registered_model"] == "customers-retrained" and summary["version"] == "1"


def test_the_html_report_renders(champion, tmp_path, browse):
    _, uri, _, _ = champion
    shifted = customers(600, seed=34)
    shifted["visits"] = shifted["visits"] + 25
    shifted.loc[::3, "plan"] = "enterprise"  # a level training never saw
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    result = monitor_batch("models:/customers@champion", str(tmp_path / "shifted.csv"), uri)
    (tmp_path / "report.html").write_text(html_report(result))
    dom = browse((tmp_path / "report.html").as_uri(), "monitor-report", budget_ms=3000)
    assert "Drift of customers v1" in dom and "drifted: " in dom
    assert dom.count("<img") == 3  # visits, plan, and the predictions
