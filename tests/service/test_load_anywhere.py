"""The registered model loads and predicts without what it does not declare: in a Python whose
imports of Optuna, filelock, Prefect, automl.search and automl.tracking fail, the champion loads
from the registry and predicts raw rows, and a row-sampled winner (RowSample, the time-aware first
fit's refit) unpickles. (The fresh-venv test built from the model's requirements.txt is
test_fresh_venv, marked e2e.)"""

import subprocess
import sys
import textwrap

import cloudpickle
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from automl.search import RowSample
from tests.service.conftest import customers

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
