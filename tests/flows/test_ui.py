"""What a person sees, rendered in headless Chromium: the Prefect UI's run form and run list, and
the MLflow UI telling a run's story (the experiment opening on its runs, the leaderboard, trials of
two families compared on shared columns, an MLP trial's learning curve per fold). Screenshots go
to test-artifacts/ (look at them)."""

import json
import re
import urllib.parse

import pytest
from mlflow import MlflowClient

from automl.config import parse_config
from automl.report import MODEL_TRAINING_VIEW
from flows.deploy import build_deployment
from tests.servers import free_port, serving

pytestmark = pytest.mark.e2e


def test_prefect_ui_renders_the_run_form(server, store, store_settings, browse):
    config = parse_config({"name": "form_demo", "search": {"n_trials": 5, "families": ["linear", "mlp"]},
                           "tracking": store_settings(store)})
    deployment_id = build_deployment(config).apply()
    dom = browse(f"{server.removesuffix('/api')}/deployments/deployment/{deployment_id}/run", "prefect-run-form",
                 until=("Data source", "MLflow tracking URI"))
    for title in ("Data source", "Target column", "Trials", "Model families", "CV folds", "MLflow tracking URI"):
        assert title in dom, f"'{title}' is not on the run form"
    for required in ("Data", "Data source", "Target column"):  # marked required, not "(Optional)"
        assert f">{required} (Optional)<" not in dom and f">{required}<" in dom
    assert ">Trials (Optional)<" in dom  # (what has a default stays optional)


@pytest.fixture(scope="module")
def story(whole_run, tmp_path_factory):
    """The session's run over three families (the MLP trains by epochs), and the MLflow UI on its store."""
    tracking_uri = whole_run.config.tracking.tracking_uri
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(whole_run.config.experiment_name).experiment_id
    parent = client.get_run(whole_run.summary["parent_run_id"])
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(["mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "1"],  # (one browser at a time: four workers' start-up would be waited for)
                 f"{url}/health", tmp_path_factory.mktemp("mlflow-ui") / "ui.log"):
        yield url, experiment, parent, children


def test_the_experiment_opens_on_its_runs(story, browse):
    url, experiment, parent, _ = story
    dom = browse(f"{url}/#/experiments/{experiment}?{MODEL_TRAINING_VIEW}", "mlflow-experiment-runs",
                 until=(parent.info.run_name,))
    assert parent.info.run_name in dom, "the parent run is not listed where the experiment opens"
    assert "Detect issues" not in dom  # MLflow 3's GenAI view (traces) is not where it opens


def test_the_parent_run_shows_its_leaderboard(story, browse):
    url, experiment, parent, _ = story
    dom = browse(f"{url}/#/experiments/{experiment}/runs/{parent.info.run_id}"
                 f"/artifacts/leaderboard.csv?{MODEL_TRAINING_VIEW}",
                 "mlflow-leaderboard", until=("family best",))
    assert "predict_ms_per_1k_rows" in dom and "family best" in dom
    winner = parent.data.tags["winner"]
    assert winner in dom, f"the winner '{winner}' is not the leaderboard's row"


def test_trials_of_two_families_compare_on_shared_columns(story, browse):
    url, experiment, _, children = story
    by_family = {}
    for child in children:
        if child.data.tags["trial_state"] == "COMPLETE":
            by_family.setdefault(child.data.params["family"], child)
    pair = [by_family["linear"], by_family["extra_trees"]]
    assert all("k" in run.data.params and "score_func" in run.data.params for run in pair)  # both filled
    runs = urllib.parse.quote(json.dumps([run.info.run_id for run in pair]))
    dom = browse(f"{url}/#/compare-runs?runs={runs}&experiments=%5B%22{experiment}%22%5D&{MODEL_TRAINING_VIEW}",
                 "mlflow-compare-families", until=tuple(run.info.run_name for run in pair))
    assert all(run.info.run_name in dom for run in pair)
    for run in pair:  # the shared rows hold each trial's own value
        assert run.data.params["score_func"] in dom and f">{run.data.params['k']}<" in dom


def test_an_mlp_trials_learning_curves_are_one_series_per_fold(story, browse):
    url, experiment, _, children = story
    mlp = next(c for c in children if c.data.params["family"] == "mlp" and "train_loss/fold_1" in c.data.metrics)
    client = MlflowClient(f"{url}")  # the UI's server answers the tracking API too
    for fold in (0, 1):
        steps = [m.step for m in client.get_metric_history(mlp.info.run_id, f"val_loss/fold_{fold}")]
        assert steps[0] == 0 and steps == sorted(steps), "each fold's curve starts at epoch 0"
    folds = sum(key.startswith("train_loss/fold_") for key in mlp.data.metrics)
    assert folds == 2 and all(f"val_loss/fold_{fold}" in mlp.data.metrics for fold in range(folds))
    # MLflow groups the per-fold series by their prefix: a section per loss, holding a chart per fold. (The
    # charts' own legends are drawn lazily, when scrolled to, so a DOM dump may lack them; the sections
    # are always there, and the screenshot shows the curves.)
    dom = browse(f"{url}/#/experiments/{experiment}/runs/{mlp.info.run_id}/model-metrics?{MODEL_TRAINING_VIEW}",
                 "mlflow-mlp-fold-curves", budget_ms=35000, until=("train_loss", "val_loss"))
    for section in ("train_loss", "val_loss"):
        assert re.search(rf">{section}</div><div[^>]*>\({folds}\)</div>", dom), f"no '{section}' section of {folds}"


def test_the_run_list_names_the_parent_by_what_won_and_its_page_tells_the_story(story, browse):
    """The run list shows the parent by its start, winner, score and verdict; the run's page opens on
    its description: what won out of fold, the trials, the test score and the champion's verdict."""
    url, experiment, parent, children = story
    name = parent.info.run_name
    assert name.endswith(" moved") and parent.data.tags["winner"].split("(")[0] in name
    dom = browse(f"{url}/#/experiments/{experiment}/runs/{parent.info.run_id}?{MODEL_TRAINING_VIEW}",
                 "mlflow-run-description", until=("out of fold", "champion moved"))
    assert "won: roc_auc" in dom and "out of fold" in dom and "trials:" in dom and "champion moved" in dom
    assert "No description" not in dom
    for child in children:  # its child runs, listed by name: the pruned ones say so
        marked = child.data.tags["trial_state"] == "PRUNED"
        assert child.info.run_name.endswith(" · pruned") == marked and child.info.run_name in dom


def test_the_registered_model_page_says_what_it_predicts_and_each_version_why(story, whole_run, browse):
    url, _, parent, _ = story
    name = whole_run.config.registered_model_name
    dom = browse(f"{url}/#/models/{name}", "mlflow-registered-model", until=("Predicts",))
    assert "Predicts" in dom and "champion" in dom and "not worse on the test rows" in dom
    version = parent.data.tags["registered_version"]
    dom = browse(f"{url}/#/models/{name}/versions/{version}", "mlflow-model-version", until=("out of fold",))
    assert "out of fold" in dom and "champion moved" in dom
