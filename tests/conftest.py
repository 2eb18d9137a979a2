"""Shared fixtures: real stores in temp dirs (MLflow on SQLite, Optuna in memory, in a journal file
or in SQLite), small real data, and the test families and clocks the search tests use. Test
modules take these as fixtures; none imports another test module."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

# Prefect reads its settings at import: isolate its home and keep it off the network first.
# (One the caller set is kept; the one made here is removed when the session ends.) automl's cache
# (the empty MLflow store new stores copy) likewise: the session's own, not the user's.
_OWN_PREFECT_HOME = _OWN_CACHE = None
if "PREFECT_HOME" not in os.environ:
    _OWN_PREFECT_HOME = os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="automl-prefect-home-")
if "AUTOML_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["AUTOML_CACHE_DIR"] = tempfile.mkdtemp(prefix="automl-cache-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# The `mlflow server`s the tests start (the UI, a server on PostgreSQL, the secrets check) serve
# tracking and the registry; MLflow 3's job runner (GenAI evaluation and trace jobs: two huey
# consumer pools per server) serves nothing automl does.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from automl.config import parse_config  # noqa: E402
from automl.data import load_dataset, split_dataset  # noqa: E402
from automl.features import valid_score_funcs  # noqa: E402
from automl.models import FAMILIES, FamilyContext, ModelFamily  # noqa: E402
from automl.models.mlp import MLP  # noqa: E402
from automl.search import SearchSettings, SearchSpace, make_storage  # noqa: E402
from automl.tracking import JournalMirror  # noqa: E402
from tests.customers import customers  # noqa: E402
from tests.postgres_cluster import Postgres, PostgresMissing, postgres_cluster  # noqa: E402
from tests.servers import free_port, serving  # noqa: E402

# Fixtures that start a server (Prefect, MLflow, PostgreSQL, Dask): a test using one must carry the
# e2e marker, so `-m "not e2e"` runs only the tests that start none.
SERVER_FIXTURES = {"prefect_server", "server", "postgres", "mlflow_on_postgres", "mlflow_server", "dask_cluster",
                   "story"}


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and "e2e" not in item.keywords]
    if unmarked:
        raise pytest.UsageError(f"{len(unmarked)} test(s) start a server but carry no e2e marker, e.g. "
                                f"{unmarked[0]}; mark them @pytest.mark.e2e (tests/conftest.py: SERVER_FIXTURES)")
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config):
    """The session's own Prefect home and cache (made above, unless the caller set them) go with the session."""
    import shutil

    for own, variable in ((_OWN_PREFECT_HOME, "PREFECT_HOME"), (_OWN_CACHE, "AUTOML_CACHE_DIR")):
        if own is not None and os.environ.get(variable) == own:
            shutil.rmtree(own, ignore_errors=True)


# -- stores and configs ---------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture(scope="session")
def store_settings():
    """Tracking section pointing every store into a folder."""

    def settings(root: Path) -> dict:
        return {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_location": str(root / "artifacts"),
                "optuna_storage": str(root / "optuna.journal")}

    return settings


@pytest.fixture
def make_config(store: Path, store_settings):
    """RunConfig factory with stores in a temp dir and a small budget; keyword sections override."""

    def make(**sections):
        values = {
            "name": "test",
            "search": {"n_trials": 4, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
            "tracking": store_settings(store),
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return parse_config(values)

    return make


class StudyStore:
    """Where a search test keeps its study: "memory", "journal" (written behind by the writer
    process, as the pipeline does) or "sqlite" (an RDB URL, used directly)."""

    def __init__(self, mode: str, root: Path):
        self.mode, self.root = mode, root

    def url(self) -> str | None:
        return {"memory": None, "journal": str(self.root / "optuna.journal"),
                "sqlite": f"sqlite:///{self.root / 'optuna.db'}"}[self.mode]

    def settings(self, study_name: str, **values) -> SearchSettings:
        """run_search's settings, with the storage it uses directly (none for a journal: the mirror's)."""
        return SearchSettings(study_name, storage=self.url() if self.mode == "sqlite" else None, **values)

    def mirror(self, study_name: str, direction: str) -> JournalMirror | None:
        """run_search's mirror: the journal file written behind the search, as the pipeline does."""
        return JournalMirror(self.url(), study_name, direction) if self.mode == "journal" else None

    def load(self, study_name: str) -> optuna.Study | None:
        """The stored study, read back from the store (None in memory: nothing is stored)."""
        if self.mode == "memory":
            return None
        return optuna.load_study(study_name=study_name, storage=make_storage(self.url()))


@pytest.fixture
def prefect_home(tmp_path) -> Path:
    """A test's own fresh Prefect home for an `automl run` that starts its own temporary server, as a
    user's does. Its database is a copy of the first fresh home's, migrated once for the session in
    the session's automl cache (flows/temporary_server.py), as on a user's machine after its first run."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    return home


@pytest.fixture(params=["memory", "journal", "sqlite"])
def study_store(request, tmp_path) -> StudyStore:
    return StudyStore(request.param, tmp_path)


# -- PostgreSQL: a throwaway cluster on loopback (tests/postgres_cluster.py) -----------------------
@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """A PostgreSQL cluster for the session, on 127.0.0.1, user automl with a password. Without
    PostgreSQL or its driver the test skips, saying so; in CI (AUTOML_REQUIRE_POSTGRES=1) it fails."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except PostgresMissing as missing:
        if os.environ.get("AUTOML_REQUIRE_POSTGRES"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


class MlflowServer(NamedTuple):
    uri: str
    artifacts: Path


@pytest.fixture(scope="session")
def mlflow_on_postgres(postgres, tmp_path_factory) -> MlflowServer:
    """One `mlflow server` for the session, its backend store a database of the session's PostgreSQL
    cluster, its artifacts in a folder. Tests keep apart by their experiment and model names."""
    folder = tmp_path_factory.mktemp("mlflow-on-postgres")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    with serving(["mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri",
                  postgres.new_database(), "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
                 f"{uri}/health", folder / "server.log"):
        yield MlflowServer(uri, folder / "artifacts")


# -- a real champion, for the service tests (score, monitor, their flows, their bad inputs) -----------
@pytest.fixture(scope="session")
def champion(tmp_path_factory, store_settings):
    """(config, tracking URI, the training CSV's path, the served model as loaded from the registry):
    a linear model or gradient boosting on tests/customers.py's table, registered as `customers`
    (v1, alias champion), trained once for the session. Tests add runs and models to its store but
    never a version of `customers`, so it stays v1."""
    import mlflow

    from automl.pipeline import run_pipeline

    folder = tmp_path_factory.mktemp("champion")
    path = folder / "customers.csv"
    customers(300, seed=0).to_csv(path, index=False)
    config = parse_config({"name": "customers", "data": {"source": str(path), "target": "label"},
                           "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
                           "tracking": store_settings(folder / "mlruns")})
    run_pipeline(config)
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    served = mlflow.pyfunc.load_model("models:/customers@champion").unwrap_python_model().model
    return config, config.tracking.tracking_uri, path, served


class ShopTeacher(NamedTuple):
    config_path: Path  # the YAML config that trained it (a tiny distill: section too)
    config: object  # its RunConfig
    tracking_uri: str
    table: Path  # the training CSV


@pytest.fixture(scope="session")
def shop_teacher(tmp_path_factory, store_settings) -> ShopTeacher:
    """A real champion for the distillation tests: linear or gradient boosting on tests/customers.py's
    table (300 rows), registered as `shop` v1 (alias champion) in a store of its own (distilling adds
    versions, so not the service tests' `customers`), with the config file that trained it."""
    import yaml

    from automl.pipeline import run_pipeline

    folder = tmp_path_factory.mktemp("shop")
    table = folder / "shop.csv"
    customers(300, seed=0).to_csv(table, index=False)
    values = {"name": "shop", "data": {"source": str(table), "target": "label"},
              "search": {"n_trials": 2, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
              "distill": {"n_trials": 3, "max_epochs": 5, "augment_max": 1},
              "tracking": store_settings(folder / "mlruns")}
    config = parse_config(values)
    run_pipeline(config)
    path = folder / "shop.yaml"
    path.write_text(yaml.safe_dump(values))
    return ShopTeacher(path, config, config.tracking.tracking_uri, table)


@pytest.fixture(scope="session")
def unreferenced_model(champion) -> str:
    """`models:/bare/1` in the champion's store: a model registered without a reference profile (as
    one trained before the reference existed)."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.dummy import DummyClassifier

    uri = champion[1]
    mlflow.set_tracking_uri(uri)  # (no set_experiment: it would stay the process's active experiment)
    with mlflow.start_run(experiment_id=MlflowClient(uri).create_experiment("bare")):
        mlflow.sklearn.log_model(DummyClassifier().fit([[0]], [0]), name="model", registered_model_name="bare",
                                 pip_requirements=["scikit-learn"])  # (not inferred: that takes seconds)
    return "models:/bare/1"


# -- data -----------------------------------------------------------------------------------------
@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """200 rows: numeric with gaps, a categorical with gaps, an int column, a binary target."""
    rng = np.random.default_rng(0)
    n = 200
    signal = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.1] = None
    noisy = rng.normal(size=n)
    noisy[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "signal": signal,
        "noise": noisy,
        "count": rng.integers(0, 5, size=n),
        "colour": colour,
        "label": np.where(signal + 0.3 * rng.normal(size=n) > 0, "yes", "no"),
    })


def _bundled(source: str):
    dataset = load_dataset(parse_config({"data": {"source": source}, "search": {"cv_folds": 2}}))
    return dataset, split_dataset(dataset, 0.2, seed=0)


@pytest.fixture(scope="session")
def wine():
    """(Dataset, Split) of scikit-learn's wine table: 3 classes, 178 rows."""
    return _bundled("sklearn:wine")


@pytest.fixture(scope="session")
def cancer():
    """(Dataset, Split) of scikit-learn's breast cancer table: binary, 569 rows, 30 features."""
    return _bundled("sklearn:breast_cancer")


@pytest.fixture
def space_for():
    """SearchSpace factory for a Dataset and a list of families (selection on, all score functions)."""

    def space(dataset, families, n_features=None, n_rows=71):
        context = FamilyContext(task=dataset.task, seed=0, n_jobs=1, n_rows=n_rows)
        return SearchSpace(families=families, context=context, metric=dataset.metric,
                           numeric=dataset.numeric_columns, categorical=dataset.categorical_columns,
                           n_features=n_features or dataset.X.shape[1],
                           score_funcs=valid_score_funcs(dataset.task, None))

    return space


# -- what a search reports to ---------------------------------------------------------------------
class TrialList:
    """A TrialLogger that keeps the records it is handed, in order."""

    def __init__(self):
        self.records = []

    def log_trial(self, record):
        self.records.append(record)


@pytest.fixture
def trial_log() -> TrialList:
    return TrialList()


class StepClock:
    """A clock that advances `step` seconds each time it is read: the search's time is then a count
    of its own reads (one per fold, per epoch and per trial end), the same on every machine."""

    def __init__(self, step: float = 1.0, start: float = 0.0):
        self.step, self.now = step, start

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()


# -- families that misbehave on purpose -----------------------------------------------------------
class Broken(ModelFamily):
    """A family whose models always fail to fit: the study must record it and go on."""

    name = "broken"

    def suggest(self, s, context):
        s.int("size", 1, 3)

    def defaults(self, context):
        return {"size": 1}

    def build(self, params, context):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=-1.0)  # rejected by sklearn's parameter validation in fit


class OutOfMemoryMLP(MLP):
    """The MLP family, but the first `fails` packs it trains run out of GPU memory."""

    name = "oom_mlp"

    def __init__(self, fails: int = 1):
        self.fails = fails

    def fit(self, models, X, y, callbacks=None):
        if self.fails > 0:
            self.fails -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
        super().fit(models, X, y, callbacks)


@pytest.fixture
def broken_family(monkeypatch) -> str:
    monkeypatch.setitem(FAMILIES, "broken", Broken())
    return "broken"


@pytest.fixture
def out_of_memory_family(monkeypatch) -> str:
    monkeypatch.setitem(FAMILIES, "oom_mlp", OutOfMemoryMLP())
    return "oom_mlp"


@pytest.fixture
def every_family_broken(monkeypatch) -> None:
    """`linear` fails every fit (the config still names a valid family)."""
    monkeypatch.setitem(FAMILIES, "linear", Broken())


class Interrupting(ModelFamily):
    """Linear models, but the third fit is interrupted (Ctrl-C reaching a search thread)."""

    name = "interrupting"

    def __init__(self):
        self.fits = 0

    def suggest(self, s, context):
        s.float("C", 0.1, 10.0, log=True)

    def defaults(self, context):
        return {"C": 1.0}

    def build(self, params, context):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=params["C"], max_iter=500)

    def fit(self, models, X, y, callbacks=None):
        self.fits += 1
        if self.fits == 3:
            raise KeyboardInterrupt
        super().fit(models, X, y, callbacks)


class CannotSuggest(Broken):
    """A family whose search space itself raises."""

    name = "cannot_suggest"

    def suggest(self, s, context):
        raise ValueError("no space here")


@pytest.fixture
def interrupting_family(monkeypatch) -> str:
    monkeypatch.setitem(FAMILIES, "interrupting", Interrupting())
    return "interrupting"


@pytest.fixture
def cannot_suggest_family(monkeypatch) -> str:
    monkeypatch.setitem(FAMILIES, "cannot_suggest", CannotSuggest())
    return "cannot_suggest"
