"""A distillation, top to bottom, as plain functions: prepare_distillation makes every check and
writes nothing; run_distillation writes one MLflow run (in `<model>-distillation`) and one model
version; distill does both.

check the teacher and the config (the teacher's table, task and split) → the training split into fit
and validation rows → augmented rows (MUNGE) labelled by the teacher → the student study (child runs)
→ the chosen student refitted on every training row (and its augmented rows) → int8 copy of an MLP
student → the comparison (teacher, student, int8 student) → the student registered, alias `student`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from automl import nn, tracking
from automl.config import ConfigError, RunConfig, resolve_stores
from automl.distill._augment import munge
from automl.distill._errors import DistillError
from automl.distill._measure import Candidate, as_served, comparison_table, download_folder, measure, within
from automl.distill._report import score_speed_figure
from automl.distill._students import StudentContext, fit_student, teach
from automl.distill._study import StudentTrial, StudyPlan, choose, run_study, trials_table
from automl.distill._teacher import Teacher, check_teacher, load_teacher
from automl.names import metric_name
from automl.pipeline import FittedModel, Prepared, load_and_validate
from automl.served import PredictMethods, ServedModel, input_schema
from automl.service import ModelVersion, service_run, store_reference
from automl.tracking import STUDENT, RunLog, RunRef

VALIDATION_FRACTION = 0.2  # of the training split: the rows the study scores students on
MIN_TRAIN_ROWS = 20


@dataclass
class Distillation:
    """A distillation that passed every check (nothing written yet): the config, its data and split
    (automl.pipeline.Prepared), the teacher, the test split's rows as read (for the speed figures)
    and where an MLP student trains."""

    config: RunConfig
    prepared: Prepared
    teacher: Teacher
    raw_test: pd.DataFrame
    device: str


@dataclass
class DistillResult:
    run: RunRef
    teacher: ModelVersion
    version: str  # the student's new version of the teacher's registered model
    alias: str
    chosen: StudentTrial
    trials: list[StudentTrial]
    comparison: pd.DataFrame  # automl.distill.COMPARISON_COLUMNS, teacher first
    metric: str
    tolerance: float
    registered: str  # "student" or "student_int8": the row of the comparison that was registered

    @property
    def row(self) -> pd.Series:
        return self.comparison.set_index("model").loc[self.registered]


def teacher_uri(config: RunConfig, given: str | None = None) -> str:
    """--teacher, else distill.teacher, else the config's registered model @champion."""
    return given or config.distill.teacher or f"models:/{config.registered_model_name}@champion"


def prepare_distillation(config: RunConfig, teacher: str | None = None) -> Distillation:
    """Every check before anything is written: the teacher exists and is automl's, the config's table
    reads and validates, has the teacher's columns, target and split; the device answers."""
    uri = teacher_uri(config, teacher)
    loaded = load_teacher(uri, resolve_stores(config.tracking).tracking_uri)
    prepared = load_and_validate(config)
    check_teacher(loaded, prepared)
    if len(prepared.split.y_train) < MIN_TRAIN_ROWS:
        raise DistillError(f"the training split holds {len(prepared.split.y_train)} rows; a student needs at least "
                           f"{MIN_TRAIN_ROWS} (some of them to score students on)")
    device = "cpu"
    if "mlp" in config.distill.students:
        try:
            device = nn.device_type(config.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(str(error)) from None
    raw_test = prepared.dataset.raw.loc[prepared.split.X_test.index]  # (the rows as read, before the cleaner)
    return Distillation(config, prepared, loaded, raw_test, device)


def distill(config: RunConfig, teacher: str | None = None,
            on_trial: Callable[[StudentTrial], None] | None = None) -> DistillResult:
    """Distill the teacher (default: the config's champion) into a student registered with the alias
    `student`; `on_trial` sees each student the study trains."""
    return run_distillation(prepare_distillation(config, teacher), on_trial)


def student_context(plan: Distillation) -> StudentContext:
    d = plan.prepared.dataset
    return StudentContext(d.task, d.numeric_columns, d.categorical_columns, plan.teacher.classes, plan.device,
                          plan.config.seed, plan.config.distill.max_epochs, tuple(d.text_columns))


def validation_split(plan: Distillation) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """The training split's fit rows and validation rows (stratified where every class has two rows)."""
    split, task = plan.prepared.split, plan.prepared.dataset.task
    y = split.y_train
    stratify = y if task != "regression" and y.value_counts().min() >= 2 else None
    return train_test_split(split.X_train, y, test_size=VALIDATION_FRACTION, random_state=plan.config.seed,
                            stratify=stratify)


def taught_rows(plan: Distillation, X: pd.DataFrame, y: pd.Series, multiple: int, seed: int):
    """X's rows and `multiple` × as many augmented ones, each labelled by the teacher (automl.distill's Rows)."""
    d = plan.prepared.dataset
    augmented = munge(X, d.numeric_columns, d.categorical_columns, multiple * len(X), seed)
    return teach(plan.teacher.served.model, X, y, augmented, plan.teacher.classes)


def run_distillation(plan: Distillation, on_trial: Callable[[StudentTrial], None] | None = None) -> DistillResult:
    """The study, the chosen student refitted, the comparison and the registration, in one MLflow run."""
    config, teacher, metric = plan.config, plan.teacher, plan.prepared.dataset.metric
    settings = config.distill
    run = service_run(teacher.version, "distillation", {"config_hash": config.config_hash(), "teacher_uri": teacher.uri,
                                                         "device": plan.device, "metric": metric})
    with tracking.run_ends_failed(run):
        log_start(plan, run)
        context = student_context(plan)
        X_fit, X_val, y_fit, y_val = validation_split(plan)
        study = StudyPlan(list(settings.students), settings.n_trials, settings.augment_max, metric,
                          settings.tolerance, config.seed)
        trials = run_study(study, taught_rows(plan, X_fit, y_fit, settings.augment_max, config.seed), X_val, y_val,
                           context, run, on_trial)
        chosen = choose(trials, metric, settings.tolerance)
        split = plan.prepared.split
        pipeline = fit_student(chosen.params, taught_rows(plan, split.X_train, split.y_train, chosen.params["augment"],
                                                          config.seed + 1), context)
        table, served = compare(plan, chosen, pipeline)
        registered = table.loc[table["registered"], "model"].iloc[0]
        version = register(plan, run, served, chosen, table)
        log_end(plan, run, table, trials_table(trials, chosen, metric), chosen)
        tracking.finish_run(run)
    return DistillResult(run, teacher.version, version, STUDENT, chosen, trials, table, metric, settings.tolerance,
                         registered)


def log_start(plan: Distillation, run: RunRef) -> None:
    """The run's params (the distill section, the teacher), its config (as a training run keeps it, so
    `automl monitor` finds the thresholds) and row counts."""
    config, split = plan.config, plan.prepared.split
    log = RunLog(run)
    public = config.public_values()
    log.log_text(json.dumps(public, indent=2, sort_keys=True), "config/resolved_config.json")
    log.log(params={"distill": public["distill"], "teacher": plan.teacher.uri,
                    "teacher_version": plan.teacher.version.version},
            metrics={"n_train": len(split.y_train), "n_test": len(split.y_test),
                     "teacher_registered_test_score": plan.teacher.registered_score})


def compare(plan: Distillation, chosen: StudentTrial, pipeline: Pipeline) -> tuple[pd.DataFrame, ServedModel]:
    """The comparison table, and the served model to register: the int8 student where it pays
    (int8_pays), else the float student."""
    d, split, metric = plan.prepared.dataset, plan.prepared.split, plan.prepared.dataset.metric
    served = {"student": as_served(ServedModel(d.cleaner, pipeline))}
    with_int8 = chosen.family == "mlp" and plan.config.distill.quantize
    if with_int8:
        served["student_int8"] = as_served(ServedModel(d.cleaner, quantize_student(served["student"].model)))
    with tempfile.TemporaryDirectory(prefix="automl-teacher-") as root:
        teacher = Candidate("teacher", plan.teacher.name, plan.teacher.served,
                            download_folder(plan.teacher.version, Path(root)))
        candidates = [teacher] + [Candidate(name, chosen.describe() + (", int8" if name.endswith("int8") else ""),
                                            model) for name, model in served.items()]
        rows = [measure(c, split.X_test, split.y_test, plan.raw_test, metric, plan.config.seed) for c in candidates]
    registered = "student_int8" if with_int8 and int8_pays(rows[1], rows[2], plan.config.distill.tolerance,
                                                           metric) else "student"
    return comparison_table(rows, metric, registered), served[registered]


def int8_pays(student: dict, int8: dict, tolerance: float, metric: str) -> bool:
    """The int8 copy is registered where it loses no more than the tolerance of the float student's
    test score and gains something: more rows/s or a smaller model. (A small MLP's int8 layers can be
    slower and larger than its float ones: measured on adult and diamonds, benchmarks/README.md.)"""
    gains = int8["rows_per_s"] > student["rows_per_s"] or int8["model_mb"] < student["model_mb"]
    return gains and within(int8["test_score"], student["test_score"], tolerance, metric)


def quantize_student(pipeline: Pipeline) -> Pipeline:
    """The fitted pipeline with its MLP's linear layers as int8 (nn.QuantizedMLP); the rest shared."""
    *head, (name, model) = pipeline.steps
    return Pipeline([*head, (name, nn.QuantizedMLP.from_fitted(model))])


def register(plan: Distillation, run: RunRef, served: ServedModel, chosen: StudentTrial, table: pd.DataFrame) -> str:
    """The student as a new version of the teacher's registered model (alias `student`), tagged with
    its teacher; a reference profile on the run first, so `automl monitor` can watch it too."""
    d, metric, teacher = plan.prepared.dataset, plan.prepared.dataset.metric, plan.teacher
    row = table.set_index("model").loc[table.loc[table["registered"], "model"].iloc[0]]
    store_reference(plan.prepared, FittedModel(served.model, {}, float(row["test_score"])), run)
    tags = {"metric": metric, "test_score": repr(float(row["test_score"])), "automl.role": STUDENT,
            "teacher_uri": teacher.uri, "teacher_version": teacher.version.version,
            "teacher_run_id": teacher.version.run_id, "student": chosen.describe(),
            "quantized": str(row.name.endswith("int8")).lower()}
    return tracking.register_student(run, PredictMethods(served), d.raw_example, teacher.version.name, tags,
                                     input_schema(d.cleaner, d.raw_example))


def log_end(plan: Distillation, run: RunRef, table: pd.DataFrame, trials: pd.DataFrame, chosen: StudentTrial) -> None:
    """The comparison (table, plot, one metric per model and column), the study's table, what was chosen."""
    metric = plan.prepared.dataset.metric
    log = RunLog(run)
    log.log_table(table, "comparison/comparison.csv")
    log.log_table(trials, "students/trials.csv")
    log.log_figure(score_speed_figure(table, metric), "comparison/score_vs_speed.png")
    numbers = [c for c in table.columns if c not in ("model", "description", "registered")]
    log.log(params={"student": chosen.describe(), "student_family": chosen.family, "chosen_trial": chosen.number},
            metrics={f"{metric_name(row.model)}/{column}": float(getattr(row, column))
                     for row in table.itertuples(index=False) for column in numbers}
            | {f"student_val_{metric}": chosen.score})
