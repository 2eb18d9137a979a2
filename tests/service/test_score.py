"""`automl score` on a real champion: chunked CSV and Parquet-folder input equal to in-process
predictions row for row; refused input writes no output file and no MLflow run."""

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from automl.service import ServiceError, score_batch
from flows.cli import main
from tests.customers import customers


@pytest.fixture
def batch(tmp_path) -> pd.DataFrame:
    return customers(45, seed=7).assign(note="free text the model never saw")


def test_csv_in_chunks_equals_in_process_predictions(champion, batch, tmp_path):
    _, uri, _, served = champion
    batch.to_csv(tmp_path / "batch.csv", index=False)
    result = score_batch("models:/customers@champion", str(tmp_path / "batch.csv"), str(tmp_path / "out.csv"), uri,
                         id_column="customer_id", proba=True, chunk_rows=7)  # 7 chunks, the last of 3 rows
    out = pd.read_csv(tmp_path / "out.csv")
    features = batch.drop(columns=["label", "note"])
    assert result.rows == 45 and list(out["customer_id"]) == list(batch["customer_id"])
    assert list(out["prediction"]) == list(served.predict(features))
    expected = served.predict_proba(features)
    assert list(out.columns) == ["customer_id", "prediction", *(f"proba_{c}" for c in served.classes_)]
    np.testing.assert_allclose(out[[f"proba_{c}" for c in served.classes_]].to_numpy(), expected, rtol=1e-12)
    assert result.warnings == ["columns the model does not use were dropped: label, note"]
    run = MlflowClient(uri).get_run(result.run_id)
    assert run.data.tags["registered_model"] == "customers" and run.data.tags["model_version"] == "1"
    assert run.data.tags["training_run_id"] == MlflowClient(uri).get_model_version("customers", "1").run_id
    assert run.data.metrics["rows"] == 45
    shares = {c: run.data.metrics[f"prediction/share/{c}"] for c in served.classes_}
    assert shares["yes"] == pytest.approx(np.mean(served.predict(features) == "yes"))
    assert MlflowClient(uri).get_experiment(run.info.experiment_id).name == "customers-scoring"


def test_parquet_folder_in_chunks(champion, batch, tmp_path):
    _, uri, _, served = champion
    folder = tmp_path / "batches"
    folder.mkdir()
    batch.iloc[:20].to_parquet(folder / "a.parquet", index=False)
    batch.iloc[20:].to_parquet(folder / "b.parquet", index=False)
    result = score_batch("models:/customers/1", str(folder), str(tmp_path / "out.parquet"), uri, chunk_rows=6)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert result.rows == 45 and list(out.columns) == ["prediction"]
    assert list(out["prediction"]) == list(served.predict(batch.drop(columns=["label", "note"])))


def test_cli_scores_a_glob(champion, batch, tmp_path, capsys):
    _, uri, _, served = champion
    batch.iloc[:30].to_csv(tmp_path / "part-1.csv", index=False)
    batch.iloc[30:].to_csv(tmp_path / "part-2.csv", index=False)
    code = main(["score", "--model", "models:/customers@champion", "--input", str(tmp_path / "part-*.csv"),
                 "--output", str(tmp_path / "out.csv"), "--tracking-uri", uri, "--chunk-rows", "8"])
    assert code == 0
    assert list(pd.read_csv(tmp_path / "out.csv")["prediction"]) == list(served.predict(batch))
    assert "scored 45 rows with customers v1" in capsys.readouterr().out


def _refused(args, tmp_path, capsys) -> str:
    before = {p.name for p in tmp_path.iterdir()}
    assert main(["score", *args, "--output", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert {p.name for p in tmp_path.iterdir()} == before  # no output, no temporary file
    assert len(err.splitlines()) == 1 and err.startswith("automl: error: ")
    return err


@pytest.mark.parametrize("case, expected", [
    ("no_required_column", r"lacks column 'signal', which the model requires"),
    ("missing_value_in_a_later_chunk", r"chunk of its rows 35–41: column 'signal' is required but has 1 missing"),
    ("text_in_a_number_column", r"column 'spend' holds 'lots', which is not a number"),
    ("no_id_column", r"has no column 'account'"),
    ("empty", r"holds no rows"),
    ("not_a_table", r"is not a Parquet file"),
    ("unknown_alias", r"model 'customers' has no alias 'staging'; it has versions 1; aliases champion \(v1\)"),
    ("unknown_model", r"no registered model 'nobody' .*registered: (.*, )?customers"),
])
def test_bad_input_is_one_line_and_writes_nothing(champion, batch, tmp_path, capsys, case, expected):
    _, uri, _, _ = champion
    path, model, extra = tmp_path / "in.csv", "models:/customers@champion", []
    frame = batch.copy()
    if case == "no_required_column":
        frame = frame.drop(columns="signal")
    elif case == "missing_value_in_a_later_chunk":
        frame.loc[40, "signal"] = np.nan
    elif case == "text_in_a_number_column":
        frame["spend"] = frame["spend"].astype(object)
        frame.loc[3, "spend"] = "lots"
    elif case == "no_id_column":
        extra = ["--id-column", "account"]
    elif case == "empty":
        frame = frame.iloc[:0]
    elif case == "not_a_table":
        path = tmp_path / "in.parquet"
        path.write_text("a,b\n1,2\n")
    model = {"unknown_alias": "models:/customers@staging", "unknown_model": "models:/nobody@champion"}.get(case, model)
    if case != "not_a_table":
        frame.to_csv(path, index=False)
    err = _refused(["--model", model, "--input", str(path), "--tracking-uri", uri, "--chunk-rows", "7", *extra],
                   tmp_path, capsys)
    assert re.search(expected, err), err
    mlflow.set_tracking_uri(uri)
    scoring = MlflowClient(uri).get_experiment_by_name("customers-scoring")
    if scoring is not None:  # made by the other tests: none of its runs read this input
        runs = MlflowClient(uri).search_runs([scoring.experiment_id])
        assert all(r.data.params.get("input") != str(path) for r in runs)


def test_proba_on_a_regressor_and_a_bad_output_name(champion, batch, tmp_path):
    _, uri, _, _ = champion
    batch.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(ServiceError, match=r"output '.*out.xlsx' must end in .csv or .parquet"):
        score_batch("models:/customers@champion", str(tmp_path / "in.csv"), str(tmp_path / "out.xlsx"), uri)


def test_class_labels_that_mlflow_refuses_in_a_name_are_logged_written_plainly(tmp_path):
    """adult's labels (`<=50K`, `>50K`) hold characters an MLflow metric name may not: the shares are
    logged under `share/__50K`-style names (it was an MlflowException after the output was written)."""
    from automl.service._score import Distribution
    from automl.tracking import RunLog, RunRef

    shares = Distribution(np.asarray(["<=50K", ">50K"]))
    shares.add(np.asarray(["<=50K", "<=50K", ">50K", "<=50K"]))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("labels", artifact_location=str(tmp_path / "a"))
    run = client.create_run(experiment)
    RunLog(RunRef(uri, experiment, run.info.run_id, run.info.run_name)).log(metrics=shares.summary())
    logged = client.get_run(run.info.run_id).data.metrics
    assert logged == {"share/__50K": 0.75, "share/_50K": 0.25}
