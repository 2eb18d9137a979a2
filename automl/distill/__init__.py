"""Knowledge distillation: a small, fast student of a registered model (the champion, or any
version), registered beside it with the alias `student` (never `champion`). Plain Python (no
Prefect); flows/distill.py runs it as the automl-distill flow, flows/distill_cli.py as `automl distill`.

- distill(config, teacher=None): prepare_distillation (every check; nothing written: a bad teacher,
  table or split is a DistillError, one line) then run_distillation (one MLflow run in
  `<model>-distillation`, its student study as child runs, the comparison, one model version)
- the students (automl.distill._students): the PyTorch MLP trained on the teacher's softened
  probabilities (automl.nn.DistilledMLPClassifier), and a shallow histogram boosting model on the
  teacher's outputs; augmented rows by MUNGE (munge), labelled by the teacher
- the rule that picks the student (choose): the smallest student within distill.tolerance of the
  best validation score; an MLP student's int8 copy (automl.nn.QuantizedMLP) replaces it where its
  test score is within the tolerance too
- the comparison (COMPARISON_COLUMNS): test score, rows/s on 10,000 rows, one row's latency (median
  of 200 calls), size on disk; comparison_markdown for the Prefect report, score_speed_figure
"""

from automl.distill._augment import munge
from automl.distill._distill import (
                                     Distillation,
                                     DistillResult,
                                     distill,
                                     prepare_distillation,
                                     quantize_student,
                                     run_distillation,
                                     teacher_uri,
)
from automl.distill._errors import DistillError
from automl.distill._measure import COMPARISON_COLUMNS, LATENCY_CALLS, THROUGHPUT_ROWS
from automl.distill._report import comparison_markdown, score_speed_figure, summary, table_text
from automl.distill._students import Rows, StudentContext, build_student, fit_student, teach
from automl.distill._study import StudentTrial, choose

__all__ = ["COMPARISON_COLUMNS", "LATENCY_CALLS", "THROUGHPUT_ROWS", "DistillError", "DistillResult", "Distillation",
           "Rows", "StudentContext", "StudentTrial", "build_student", "choose", "comparison_markdown", "distill",
           "fit_student", "munge", "prepare_distillation", "quantize_student", "run_distillation",
           "score_speed_figure", "summary", "table_text", "teach", "teacher_uri"]
