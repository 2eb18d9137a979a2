"""Free-text columns through the text encoders (issue 29): the pretrained encoder loads and encodes
with the network disabled; each distinct text is encoded once per run, across trials and folds, and
a resumed run (the same checkpoint folder, a new process's memory) encodes none again; TF-IDF + SVD
learns on the training rows only and keeps its width whatever the fold."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import automl.features._text as text_module
from automl.config import parse_config
from automl.extras import missing_text_packages
from automl.features import EMBEDDING_DIM, SentenceEncoder, TextEncoding, build_preprocessor
from automl.pipeline import load_and_validate, profile_features, search_space
from automl.search import Deadline, SearchSettings, build_pipeline, run_search
from tests.reviews import reviews

ROOT = Path(__file__).resolve().parents[2]
needs_extra = pytest.mark.skipif(bool(missing_text_packages()),
                                 reason=f"the text extra is not installed ({missing_text_packages()})")

OFFLINE = r"""
import json, os, socket, sys
for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(name, None)  # (the encoder must not rely on the caller setting them)
def refuse(*args, **kwargs):
    raise OSError("the network is disabled in this test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
import numpy as np
from automl.features import embed
vectors = embed(np.array(["a great product, I love it", "an excellent buy, loved it", "broken on arrival", ""],
                         dtype=object), None, device="cpu")
print(json.dumps({"shape": list(vectors.shape), "norms": np.linalg.norm(vectors, axis=1).round(4).tolist(),
                  "close": float(vectors[0] @ vectors[1]), "far": float(vectors[0] @ vectors[2]),
                  "env": [os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE")]}))
"""


@needs_extra
def test_the_encoder_loads_and_encodes_with_the_network_disabled():
    """In a fresh interpreter whose sockets refuse to connect or resolve, the encoder loads its
    weights from site-packages and encodes: unit-length embeddings, closer for texts that mean the
    same; the offline switches it set while loading are gone after."""
    done = subprocess.run([sys.executable, "-c", OFFLINE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["shape"] == [4, EMBEDDING_DIM] and got["norms"] == [1.0] * 4
    assert got["close"] > got["far"] + 0.2
    assert got["env"] == [None, None]
    assert "Loading weights" not in done.stderr  # (no progress bar per load)


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """The number of texts in each batch the sentence encoder runs, in order."""
    calls: list[int] = []
    real = text_module._forward

    def counted(model, ids, mask):
        calls.append(int(ids.shape[0]))
        return real(model, ids, mask)

    monkeypatch.setattr(text_module, "_forward", counted)
    monkeypatch.setattr(text_module, "_CACHES", type(text_module._CACHES)())  # (no other test's cache)
    return calls


def _prepared(tmp_path: Path, store_settings, encoders: list[str] | None, n: int = 160):
    frame = reviews(n, seed=3)
    frame.loc[5, "review"] = frame.loc[4, "review"]  # a text twice: encoded once
    config = parse_config({"name": "text", "seed": 0, "data": {"source": "frame", "target": "label"},
                           "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear"]},
                           "text": {"encoders": encoders}, "tracking": store_settings(tmp_path / "mlruns")})
    return load_and_validate(config, frame)


@needs_extra
def test_embeddings_are_computed_once_per_run_across_trials_and_folds(tmp_path, store_settings, trial_log,
                                                                      forward_calls):
    prepared = _prepared(tmp_path, store_settings, ["minilm"])
    d, s = prepared.dataset, prepared.split
    profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                               prepared.score_funcs, 0)
    space = replace(search_space(prepared, profile), embedding_cache=str(tmp_path / "checkpoint" / "embeddings"))
    settings = SearchSettings(study_name="text", folds=2, n_trials=3)
    result = run_search(space, s.X_train, s.y_train, settings, trial_log)
    assert [r.state for r in result.records] == ["COMPLETE"] * 3
    assert {r.params["text_encoder"] for r in result.records} == {"minilm"}
    distinct = s.X_train["review"].nunique()
    assert sum(forward_calls) == distinct  # 3 trials × 2 folds (fit and predict): each distinct text once
    assert len(list((tmp_path / "checkpoint" / "embeddings").glob("*.npz"))) >= 1

    # a resumed run: a new process (no memory cache), the same checkpoint folder: nothing encoded again
    text_module._CACHES.clear()
    forward_calls.clear()
    again = run_search(space, s.X_train, s.y_train, replace(settings, study_name="text-again"), trial_log)
    assert [r.state for r in again.records] == ["COMPLETE"] * 3 and forward_calls == []

    # the refit on all training rows encodes nothing; the test rows, only the texts training lacked
    model = build_pipeline(result.best_params, space).fit(s.X_train, s.y_train)
    assert forward_calls == []
    auc = roc_auc_score(s.y_test == "good", model.predict_proba(s.X_test)[:, list(model.classes_).index("good")])
    assert sum(forward_calls) == len(set(s.X_test["review"]) - set(s.X_train["review"])) and auc > 0.9


@needs_extra
def test_a_pickled_encoder_keeps_no_run_folder_and_encodes_alone(tmp_path, forward_calls):
    encoder = SentenceEncoder(cache_dir=str(tmp_path / "run")).fit(pd.DataFrame({"t": ["a", "b"]}))
    first = encoder.transform(pd.DataFrame({"t": ["good value", "good value", None]}))
    assert forward_calls == [2] and np.allclose(first[0], first[1])  # two distinct texts ('' for missing)
    served = pickle.loads(pickle.dumps(encoder))
    assert served.cache_dir is None and encoder.cache_dir == str(tmp_path / "run")
    np.testing.assert_allclose(served.transform(pd.DataFrame({"t": ["good value"]})), first[:1], atol=1e-6)
    assert forward_calls == [2, 1]  # (no cache: a served model encodes the rows it is sent)


def test_tfidf_learns_on_the_training_rows_and_keeps_its_width():
    frame = reviews(120, seed=5)
    frame.loc[100, "review"] += " zanzibar"
    encoding = TextEncoding(("review",), "tfidf", width=32, seed=0)
    preprocess = build_preprocessor(["noise"], [], encoding)
    out = preprocess.fit_transform(frame.iloc[:80])
    assert out.shape == (80, 1 + 32) and np.isfinite(out).all()
    tfidf = preprocess.named_transformers_["text0"].named_steps["encode"]
    assert "zanzibar" not in tfidf.vectorizers_[0].vocabulary_ and "blender" in tfidf.vectorizers_[0].vocabulary_
    assert preprocess.transform(pd.DataFrame({"noise": [0.1], "review": ["an unseen word"]})).shape == (1, 33)
    few = preprocess.fit_transform(frame.iloc[:10])  # fewer rows than the width: the rest are zeros
    assert few.shape == (10, 33) and (few[:, 10:] == 0).all()
    assert list(preprocess.get_feature_names_out()[1:3]) == ["review.text0", "review.text1"]


def test_a_first_encoding_longer_than_the_time_left_is_pruned_and_the_search_goes_on(tmp_path, store_settings,
                                                                                   trial_log, monkeypatch):
    """The pretrained encoder's first trial would encode every text at once, which no fold check can
    stop: when that takes longer than the search has left, the trial ends pruned before its first
    fold, and the search goes on with the other encoder."""
    import automl.search._cv as cv

    monkeypatch.setattr(cv, "uncached_seconds", lambda *args: 1e4)
    prepared = _prepared(tmp_path, store_settings, ["tfidf"])
    d, s = prepared.dataset, prepared.split
    profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                               prepared.score_funcs, 0)
    space = replace(search_space(prepared, profile), text_encoders=["tfidf", "minilm"])
    result = run_search(space, s.X_train, s.y_train, SearchSettings(study_name="slow", folds=2, n_trials=4), trial_log,
                        deadline=Deadline(at=1e3, clock=lambda: 0.0))
    states = [(r.params["text_encoder"], r.state) for r in result.records]
    assert states[:2] == [("tfidf", "COMPLETE"), ("minilm", "PRUNED")] and len(states) == 4
    assert all(state == ("COMPLETE" if encoder == "tfidf" else "PRUNED") for encoder, state in states)
    assert result.records[1].reason.startswith("encoding the texts would take about 10000 s, more than the ")
