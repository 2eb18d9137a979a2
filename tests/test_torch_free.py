"""PyTorch is imported only by a run that trains with it (issue 25: it costs seconds at every start):
in a fresh interpreter, importing automl.pipeline and flows.cli and running a whole small run
(run_pipeline, real stores in tmp_path) of scikit-learn families leaves torch unimported, and a run of
the mlp family imports it and trains; nor does a run that encodes a free-text column with TF-IDF
(the pretrained encoder imports PyTorch when it first encodes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reviews import reviews

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import automl.pipeline, flows.cli  # what `automl run` imports
from automl.config import parse_config
from automl.pipeline import run_pipeline

after_import = "torch" in sys.modules
result = run_pipeline(parse_config(json.loads(sys.argv[1])))
print(json.dumps({"after_import": after_import, "after_run": "torch" in sys.modules, "n_trials": result.n_trials,
                  "winner": result.winner, "auc": result.test_metrics["test_roc_auc"]}))
"""


def _run(tmp_path: Path, store_settings, mixed_frame, families: list[str], **sections) -> dict:
    mixed_frame.to_csv(tmp_path / "mixed.csv", index=False)
    config = {"name": "torch-free", "data": {"source": str(tmp_path / "mixed.csv"), "target": "label"},
              "search": {"n_trials": 2, "cv_folds": 2, "families": families}, "device": "cpu",
              "tracking": store_settings(tmp_path / "mlruns"), **sections}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_of_scikit_learn_families_never_imports_torch(tmp_path, store_settings, mixed_frame):
    """(The table has a free-text note, encoded with TF-IDF: one run, both claims.)"""
    frame = mixed_frame.assign(note=reviews(len(mixed_frame), seed=0)["review"])
    got = _run(tmp_path, store_settings, frame, ["linear", "hist_gradient_boosting"], text={"encoders": ["tfidf"]})
    assert got["n_trials"] == 2 and got["auc"] > 0.8
    assert not got["after_import"] and not got["after_run"]


def test_a_run_of_the_mlp_family_imports_it_when_it_trains(tmp_path, store_settings, mixed_frame):
    got = _run(tmp_path, store_settings, mixed_frame, ["mlp"])
    assert not got["after_import"] and got["after_run"]
    assert got["n_trials"] == 2 and "mlp" in got["winner"] and got["auc"] > 0.7

