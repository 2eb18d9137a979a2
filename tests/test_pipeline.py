"""The pipeline without Prefect (`run_pipeline`), on a CSV with categoricals and gaps, through the registry."""

import mlflow
import numpy as np
import pandas as pd

from automl.pipeline import run_pipeline


def test_csv_with_categoricals_and_gaps_serves_raw_rows(tmp_path, make_config, mixed_frame):
    path = tmp_path / "mixed.csv"
    mixed_frame.assign(flag=np.arange(len(mixed_frame)) % 2 == 0).to_csv(path, index=False)
    config = make_config(name="mixed", data={"source": str(path), "target": "label"},
                         search={"n_trials": 4, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]})
    result = run_pipeline(config)
    assert result.n_trials == 4 and result.test_metrics["test_roc_auc"] > 0.8
    assert result.registration.moved_alias and result.tracking_overhead > 0

    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/mixed@champion")
    raw = pd.read_csv(path).drop(columns="label").head(4)
    raw.loc[0, "colour"] = "purple"  # a category never seen in training
    raw.loc[1, "noise"] = np.nan
    raw.loc[2, "colour"] = np.nan
    raw.loc[3, "count"] = np.nan  # a gap in a column that was all integers
    assert set(model.predict(raw)) <= {"yes", "no"}



