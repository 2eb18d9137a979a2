"""The checks a run makes before anything is written, on any host: the table against the config
(validate_data), whether the pretrained text encoder fits the time budget on this machine, where
PyTorch models train, and that workers on other hosts can read the stores. Each raises a one-line
ConfigError/DataError naming the value and the fix, or decides and says so in the dataset's notes."""

from __future__ import annotations

import pandas as pd

from automl import nn
from automl.config import ConfigError, RunConfig, Stores
from automl.data import Dataset, load_dataset
from automl.extras import FINE_TUNED, PRETRAINED
from automl.features import MAX_CATEGORIES, TEXT_WIDTHS, encoding_seconds, valid_score_funcs
from automl.models import get_family
from automl.secrets import env_references, has_password


def validate_data(config: RunConfig, frame: pd.DataFrame | None = None) -> tuple[Dataset, list[str]]:
    """The checks of the table against the config, on any host (no store, no device): it reads and
    validates, the families fit its task, the feature settings fit its columns. → (the Dataset,
    the SelectKBest score functions)."""
    dataset = load_dataset(config, frame)
    for family in [get_family(name) for name in config.search.families]:
        if dataset.task not in family.tasks:
            raise ConfigError(f"family '{family.name}' does not support task '{dataset.task}'; "
                              f"remove it from search.families")
    try:
        score_funcs = valid_score_funcs(dataset.task, config.features.score_funcs) if config.features.enabled else []
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_min_k(config, dataset)
    return dataset, score_funcs


TEXT_BUDGET_SHARE = 0.5  # the most of a time budget that encoding the table's texts may take on a CPU


def afford_text_encoder(config: RunConfig, dataset: Dataset) -> None:
    """With text.encoders left empty and a time budget, on a CPU: the pretrained encoder stays in the
    search only if encoding the table's distinct texts (once per run) takes at most TEXT_BUDGET_SHARE
    of the budget; else tfidf alone, said in a note. Named encoders are kept as named."""
    budget = config.search.timeout_s
    if config.text.encoders is not None or config.text.fine_tune or PRETRAINED not in dataset.text_encoders \
            or budget is None:
        return
    texts = [dataset.X[column].dropna().unique() for column in dataset.text_columns]
    seconds = sum(encoding_seconds(values) for values in texts)
    if seconds <= TEXT_BUDGET_SHARE * budget or has_cuda(config):
        return
    dataset.text_encoders.remove(PRETRAINED)
    _reword_text_columns(dataset, f" or {PRETRAINED}", "")
    dataset.notes.append(f"text.encoders: {PRETRAINED} left out: encoding {sum(map(len, texts)):,} texts would take "
                         f"about {seconds:.0f} s on this CPU, over {TEXT_BUDGET_SHARE:.0%} of the {budget:g}-s budget; "
                         f"tfidf only (a GPU, a longer budget, or text.encoders: [tfidf, {PRETRAINED}] keeps it)")


def fine_tune_on_cuda(config: RunConfig, dataset: Dataset) -> None:
    """text.fine_tune left empty: the fine-tuned encoder joins the search where the pretrained one
    runs on CUDA (on a CPU it costs minutes a fold; text.fine_tune: true asks for it there too)."""
    if config.text.fine_tune is not None or PRETRAINED not in dataset.text_encoders \
            or FINE_TUNED in dataset.text_encoders or not has_cuda(config):
        return
    dataset.text_encoders.append(FINE_TUNED)
    _reword_text_columns(dataset, f" or {PRETRAINED}", f" or {PRETRAINED} or {FINE_TUNED}")
    dataset.notes.append(f"text.fine_tune: {FINE_TUNED} in the search (the pretrained encoder's last layer trained on "
                         "each fold's labels), as the encoder runs on CUDA; text.fine_tune: false leaves it out")


def _reword_text_columns(dataset: Dataset, old: str, new: str) -> None:
    """The column report names the encoders the run may use: said again after a check changed them."""
    for decision in dataset.column_report:
        if decision.read_as == "text" and decision.action == "encoded":
            decision.detail = decision.detail.replace(old, new)


def encoding_tail_seconds(config: RunConfig, dataset: Dataset, X_test: pd.DataFrame) -> float:
    """About how long the final model takes to encode the test rows' texts (no trial saw them, so
    none is cached) with each pretrained encoder the trials may use: the time the search leaves for
    it, beside the refit (a CPU run on 1,000 reviews: about 20 s)."""
    pretrained = [name for name in dataset.text_encoders if name in (PRETRAINED, FINE_TUNED)]
    if not pretrained or not dataset.text_columns:
        return 0.0
    texts = {text for column in dataset.text_columns for text in X_test[column].dropna().astype(str).unique()}
    return len(pretrained) * encoding_seconds(texts, "cuda" if has_cuda(config) else "cpu")


def has_cuda(config: RunConfig) -> bool:
    """Whether the sentence encoder would run on CUDA (PyTorch imported only where CUDA may be)."""
    return nn.device_type(config.device) == "cuda"


def check_remote_workers(config: RunConfig, stores: Stores) -> None:
    """Workers on other hosts (search.dask_address) resolve the store URLs on their own hosts: a
    password must come from a ${VAR} of the user's, set there, not from the config."""
    if not config.search.dask_address:
        return
    for key in ("tracking_uri", "optuna_storage"):
        written = getattr(config.tracking, key)
        names = env_references(written)
        if has_password(getattr(stores, key)) and (not names or any(n.startswith("AUTOML_SECRET_") for n in names)):
            raise ConfigError(f"tracking.{key} holds a password in the config; with search.dask_address the workers "
                              f"read it on their own hosts: write it as ${{VAR}} (e.g. ${{PG_URL}}) and set VAR "
                              "on every host")


def check_min_k(config: RunConfig, dataset: Dataset) -> None:
    """features.min_k must leave a choice: at most every transformed feature (numbers, category levels)."""
    X = dataset.X
    most = len(dataset.numeric_columns) + sum(min(X[c].nunique() + 1, MAX_CATEGORIES)
                                              for c in dataset.categorical_columns)
    most += len(dataset.text_columns) * min(TEXT_WIDTHS)  # (what every trial's text encoder gives)
    if config.features.enabled and config.features.min_k > most:
        raise ConfigError(f"features.min_k is {config.features.min_k}, but the table gives at most {most} features "
                          f"({len(dataset.numeric_columns)} numeric columns, the category levels and the text "
                          "encoders' numbers); "
                          f"set features.min_k to at most {most}")


def run_device(config: RunConfig) -> str:
    """Where the run's PyTorch models train: "cpu" unless a family in the search uses a device and
    config.device resolves to CUDA (PyTorch imported only where CUDA may be)."""
    if not any(get_family(name).uses_device for name in config.search.families):
        return "cpu"
    try:
        return nn.device_type(config.device)
    except (RuntimeError, ValueError) as error:
        raise ConfigError(str(error)) from None
