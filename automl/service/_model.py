"""The registered model a service command uses: `models:/NAME@ALIAS` or `models:/NAME/VERSION`,
resolved to one version (name, version, the training run), and loaded as the served pyfunc.

An unknown name, alias or version is refused naming what exists, before anything is written; so
is an SQLite store that does not exist (MLflow would create an empty one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from automl.secrets import redact, resolve_env
from automl.service._errors import ServiceError
from automl.tracking import absolute_uri, fluent_tracking_uri
from automl.urls import sqlite_file

URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, by value (what tags a scoring or monitoring run)."""

    tracking_uri: str
    name: str
    version: str
    run_id: str  # the training run that logged it
    uri: str  # as the user gave it

    def tags(self) -> dict[str, str]:
        return {"model_uri": self.uri, "registered_model": self.name, "model_version": self.version,
                "training_run_id": self.run_id}


def resolve_model(uri: str, tracking_uri: str) -> ModelVersion:
    match = URI.match(uri)
    if match is None:
        raise ServiceError(f"model '{uri}' is not a registered model URI; write models:/NAME@champion "
                           "or models:/NAME/VERSION")
    tracking_uri = absolute_uri(store_uri(tracking_uri))
    client = MlflowClient(tracking_uri)
    name, alias, number = match["name"], match["alias"], match["version"]
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models())
        raise ServiceError(f"no registered model '{name}' in {redact(tracking_uri)}; registered: "
                           f"{', '.join(names) or 'none'} (train one with automl run CONFIG)") from None
    versions = sorted((v.version for v in client.search_model_versions(f"name = '{name}'")), key=int)
    aliases = dict(model.aliases) if isinstance(model.aliases, dict) else {a.alias: a.version for a in model.aliases}
    exists = (f"versions {', '.join(map(str, versions)) or 'none'}; aliases "
              f"{', '.join(f'{a} (v{v})' for a, v in sorted(aliases.items())) or 'none'}")
    if alias is not None and alias not in aliases:
        raise ServiceError(f"model '{name}' has no alias '{alias}'; it has {exists}")
    if number is not None and number not in map(str, versions):
        raise ServiceError(f"model '{name}' has no version {number}; it has {exists}")
    found = client.get_model_version(name, str(aliases[alias] if alias else number))
    return ModelVersion(tracking_uri, name, str(found.version), found.run_id or "", uri)


def store_uri(tracking_uri: str) -> str:
    """The tracking URI with its ${VAR}s resolved; an SQLite store must exist already."""
    try:
        tracking_uri = resolve_env(tracking_uri, "the tracking URI")
    except ValueError as error:
        raise ServiceError(str(error)) from None
    path = sqlite_file(tracking_uri)
    if path is not None and not path.is_file():
        raise ServiceError(f"no MLflow store at '{redact(tracking_uri)}' ({path.resolve()} does not exist); give "
                           "the store the model was registered in: --tracking-uri, or --config of its training run")
    return tracking_uri


def load_served(version: ModelVersion):
    """The registered pyfunc's ServedModel (the cleaner, then the pipeline): the same object
    `mlflow models serve` predicts with, called without the per-request schema check."""
    with fluent_tracking_uri(version.tracking_uri):  # (the user's tracking URI is theirs again after)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    return pyfunc.unwrap_python_model().model
