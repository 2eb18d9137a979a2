"""A library that a user imports leaves their process as it found it: importing automl and running
its pieces (a config load, a feature profile and its plot, a small search and its plots, a run
logged and registered in MLflow) changes neither matplotlib's backend, nor Optuna's log level, nor
MLflow's tracking URI, nor os.environ. Run in a fresh interpreter, so what other tests did to this
one does not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from automl.scoped import environment, optuna_warnings_only
from automl.secrets import resolve_env

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, os, sys
import matplotlib, mlflow, numpy as np, optuna, pandas as pd, sklearn, torch  # the user's own imports
from sklearn.datasets import load_breast_cancer


def state():
    pyplot = sys.modules.get("matplotlib.pyplot")
    return {"backend": matplotlib.get_backend(auto_select=False),  # None: not chosen yet (chosen on first use)
            "pyplot_figures": pyplot.get_fignums() if pyplot else [],
            "optuna_verbosity": optuna.logging.get_verbosity(),
            "mlflow_uri_set": mlflow.is_tracking_uri_set(),
            "environ": dict(os.environ)}


before = state()
import automl, automl.pipeline  # every module, as a flow imports them
from automl import plots
from automl.config import hide_passwords, load_config, parse_config
from automl.features import profile_features, profile_figure
from automl.models import FamilyContext
from automl.search import SearchSettings, SearchSpace, run_search
from automl.tracking import HoldoutScore, JournalMirror, RunLog, register_model, start_run

path = "run.yaml"
with open(path, "w") as f:
    f.write("name: state\ntracking:\n  tracking_uri: postgresql://me:s3cret@db:5432/mlflow\n")
config, secrets = hide_passwords(load_config(path))
parse_config({"search": {"n_trials": 3}})

frame = load_breast_cancer(as_frame=True).frame.sample(150, random_state=0)
X, y = frame.drop(columns="target").iloc[:, :6], frame["target"]
numeric = list(X.columns)
profile = profile_features(X, y, numeric, [], "binary", ["f_classif"], 0)
profile_figure(profile)
space = SearchSpace(families=["linear"], context=FamilyContext(task="binary", seed=0, n_jobs=1, n_rows=100),
                    metric="roc_auc", numeric=numeric, categorical=[], n_features=len(numeric),
                    score_funcs=["f_classif"])


class Records:
    def log_trial(self, record):
        pass


mirror = JournalMirror("optuna.journal", "state", "maximize")
result = run_search(space, X, y, SearchSettings("state", folds=2, n_trials=3), Records(), mirror=mirror)
list(plots.search_figures(result))
list(plots.evaluation_figures("binary", y, np.column_stack([1 - y * 0.8, y * 0.8]), np.array([0, 1])))

run = start_run("sqlite:///mlflow.db", "state", "artifacts", "state-run", {})
log = RunLog(run)
log.log_figure(profile_figure(profile), "features/scores.png")
model = sklearn.linear_model.LogisticRegression().fit(X, y)
register_model(run, model, X, "state-model", HoldoutScore("roc_auc", 0.9, True))
log.end()
after = state()
changed = {key: [before[key], after[key]] for key in before if key != "environ" and before[key] != after[key]}
keys = set(before["environ"]) | set(after["environ"])
changed["environ"] = {k: [before["environ"].get(k), after["environ"].get(k)] for k in sorted(keys)
                      if before["environ"].get(k) != after["environ"].get(k)}
print("STATE " + json.dumps({"changed": changed, "trials": len(result.records), "before": before["backend"]}))
'''


def test_importing_and_running_automl_leaves_the_process_as_it_was(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("STATE ")]
    found = json.loads(line.removeprefix("STATE "))
    assert found["trials"] == 3 and found["before"] is None  # it ran, and no backend was chosen before
    assert found["changed"] == {"environ": {}}


def test_scoped_settings_are_put_back_even_after_an_error(monkeypatch):
    monkeypatch.setenv("AUTOML_TEST_KEPT", "mine")
    monkeypatch.delenv("AUTOML_TEST_ADDED", raising=False)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    with pytest.raises(RuntimeError, match="inside"):
        with environment({"AUTOML_TEST_KEPT": "theirs", "AUTOML_TEST_ADDED": "x"}), optuna_warnings_only():
            assert os.environ["AUTOML_TEST_KEPT"] == "theirs" and os.environ["AUTOML_TEST_ADDED"] == "x"
            assert optuna.logging.get_verbosity() == optuna.logging.WARNING
            raise RuntimeError("inside")
    assert os.environ["AUTOML_TEST_KEPT"] == "mine" and "AUTOML_TEST_ADDED" not in os.environ
    assert optuna.logging.get_verbosity() == optuna.logging.INFO
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a quieter level the user chose stays inside too
    with optuna_warnings_only():
        assert optuna.logging.get_verbosity() == optuna.logging.ERROR
    optuna.logging.set_verbosity(optuna.logging.INFO)


def test_env_references_resolve_from_a_mapping_given_without_touching_the_environment(monkeypatch):
    monkeypatch.delenv("AUTOML_TEST_URL", raising=False)
    given = {"AUTOML_TEST_URL": "postgresql://me:pw@db/optuna"}
    assert resolve_env("${AUTOML_TEST_URL}", "tracking.optuna_storage", given) == "postgresql://me:pw@db/optuna"
    assert "AUTOML_TEST_URL" not in os.environ
    with pytest.raises(ValueError, match=r"tracking.optuna_storage names \$\{AUTOML_TEST_URL\}, which is not set"):
        resolve_env("${AUTOML_TEST_URL}", "tracking.optuna_storage")
