"""A real small champion (a linear model or gradient boosting on a CSV with numbers, a category with
gaps and an id column), trained once per module; the rows it was trained on."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from automl.config import parse_config
from automl.pipeline import run_pipeline


def customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    plan = rng.choice(["basic", "plus", "pro"], size=n).astype(object)
    plan[rng.random(n) < 0.1] = None
    return pd.DataFrame({"customer_id": np.arange(n) + 1000, "visits": rng.integers(0, 40, size=n),
                         "spend": rng.gamma(2.0, 50.0, size=n), "signal": signal, "plan": plan,
                         "label": np.where(signal + 0.3 * rng.normal(size=n) > 0, "yes", "no")})


@pytest.fixture(scope="module")
def champion(tmp_path_factory, store_settings):
    """(config, tracking URI, the training CSV's path, the served model as loaded from the registry)."""
    folder = tmp_path_factory.mktemp("champion")
    path = folder / "customers.csv"
    customers(300, seed=0).to_csv(path, index=False)
    store = folder / "mlruns"
    config = parse_config({"name": "customers", "data": {"source": str(path), "target": "label"},
                           "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
                           "tracking": store_settings(store)})
    run_pipeline(config)
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    served = mlflow.pyfunc.load_model("models:/customers@champion").unwrap_python_model().model
    return config, config.tracking.tracking_uri, path, served
