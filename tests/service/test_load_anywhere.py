"""The registered model loads and predicts without what it does not declare: in a Python whose
imports of Optuna, filelock, Prefect, automl.search and automl.tracking fail, the champion loads
from the registry and predicts raw rows, and a row-sampled winner (RowSample, the time-aware first
fit's refit) unpickles; and (marked e2e) a fresh venv built only from the model's requirements.txt
loads it from the registry and predicts."""

import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from automl.search import RowSample
from tests.customers import customers

BLOCKED = ("optuna", "filelock", "prefect", "automl.search", "automl.tracking")
BLOCK = textwrap.dedent(f"""
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if any(name == b or name.startswith(b + ".") for b in {BLOCKED!r}):
                raise ImportError(f"{{name}} is not among the model's requirements")
    sys.meta_path.insert(0, Block())
""")


def _run(code: str, cwd) -> str:
    done = subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_row_sampled_model_unpickles_without_the_search(tmp_path):
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    model = RowSample(LogisticRegression(), fraction=0.5, seed=0, stratify=True).fit(X, (X["a"] > 20).astype(int))
    (tmp_path / "model.pkl").write_bytes(cloudpickle.dumps(model))
    out = _run("""
        import pickle, pandas as pd
        model = pickle.load(open("model.pkl", "rb"))
        print(list(model.predict(pd.DataFrame({"a": [1.0, 39.0], "b": [0.0, 1.0]}))))
    """, tmp_path)
    assert out.strip() == str(list(model.predict(pd.DataFrame({"a": [1.0, 39.0], "b": [0.0, 1.0]}))))


def test_the_champion_loads_and_predicts_raw_rows_without_the_search(champion, tmp_path):
    _, uri, _, served = champion
    rows = customers(12, seed=21).drop(columns="label")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = _run(f"""
        import mlflow, pandas as pd
        mlflow.set_tracking_uri({uri!r})
        model = mlflow.pyfunc.load_model("models:/customers@champion")
        print(",".join(model.predict(pd.read_csv("rows.csv"))))
        assert not any(m.startswith(("optuna", "automl.search", "automl.tracking")) for m in sys.modules)
    """, tmp_path)
    assert out.strip().split(",") == list(served.predict(rows))


@pytest.mark.e2e
def test_fresh_venv_from_the_models_requirements(champion, tmp_path):
    """What `mlflow models serve --env-manager virtualenv` does: a venv with only the model's
    requirements.txt, automl only as the code the model ships (code_paths), no PYTHONPATH."""
    import os

    import mlflow

    _, uri, _, served = champion
    mlflow.set_tracking_uri(uri)
    model_dir = Path(mlflow.artifacts.download_artifacts("models:/customers@champion", dst_path=str(tmp_path / "m")))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(model_dir / "requirements.txt")],
                         capture_output=True, text=True, timeout=3000)
    assert pip.returncode == 0, pip.stderr[-3000:]
    rows = customers(12, seed=22).drop(columns="label")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code = (f"import mlflow, pandas as pd; mlflow.set_tracking_uri({uri!r}); "
            "m = mlflow.pyfunc.load_model('models:/customers@champion'); "
            "print(','.join(m.predict(pd.read_csv('rows.csv'))))")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().split(",") == list(served.predict(rows))
