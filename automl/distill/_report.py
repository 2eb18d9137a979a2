"""What a distillation shows: the comparison as markdown (the Prefect report, the CLI's table) and the
plot of test score against rows/s (a matplotlib Figure, not pyplot's, as automl.plots draws them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl.distill._distill import DistillResult


def table_text(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison with its numbers rounded for reading."""
    shown = table.copy()
    for column, digits in [("test_score", 4), ("rows_per_s", 0), ("latency_ms", 3), ("pipeline_latency_ms", 3),
                           ("size_mb", 2), ("model_mb", 3), ("score_ratio", 4), ("speed_ratio", 1),
                           ("latency_ratio", 1)]:
        shown[column] = shown[column].round(digits)
    shown["rows_per_s"] = shown["rows_per_s"].astype(int)
    return shown


def comparison_markdown(result: DistillResult) -> str:
    """The Prefect report: the teacher, the student registered, the rule, the comparison."""
    chosen = result.chosen
    table = table_text(result.comparison).rename(columns={"test_score": f"test {result.metric}"})
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns)
    rows = "\n".join("| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False))
    complete = sum(t.state == "COMPLETE" for t in result.trials)
    return f"""# {result.teacher.name} v{result.teacher.version} → v{result.version} @{result.alias}

- Teacher: `{result.teacher.uri}` (v{result.teacher.version}); `champion` unchanged
- Student: {chosen.describe()} (trial {chosen.number}; validation {result.metric} {chosen.score:.4f}), the smallest
  within {result.tolerance:.1%} of the best of {complete} students; registered as {result.registered}
- MLflow run `{result.run.run_id}` in experiment `{result.teacher.name}-distillation`

{header}
{rows}
"""


def summary(result: DistillResult) -> str:
    """What `automl distill` prints: the registration, the rule's choice, the comparison as text."""
    chosen, teacher = result.chosen, result.teacher
    shown = table_text(result.comparison).drop(columns=["description"]).rename(
        columns={"test_score": f"test_{result.metric}"})
    return "\n".join([
        f"registered {teacher.name} v{result.version} with alias '{result.alias}' ({result.registered}): "
        f"{chosen.describe()}",
        f"  distilled from {teacher.uri} (v{teacher.version}); champion unchanged",
        f"  chosen: the smallest of {sum(t.state == 'COMPLETE' for t in result.trials)} students within "
        f"{result.tolerance:.1%} of the best validation {result.metric} (trial {chosen.number}: {chosen.score:.4f})",
        shown.to_string(index=False),
        f"MLflow run {result.run.run_id} in experiment {teacher.name}-distillation "
        "(comparison/comparison.csv, comparison/score_vs_speed.png)",
    ])


def score_speed_figure(table: pd.DataFrame, metric: str) -> Figure:
    """Test score against rows/s (log scale), one labelled point per model."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    axes = figure.subplots()
    colours = {"teacher": "#444444", "student": "#1f77b4", "student_int8": "#ff7f0e"}
    for row in table.itertuples(index=False):
        axes.scatter(row.rows_per_s, row.test_score, s=40 + 30 * row.registered,
                     color=colours.get(row.model, "#2ca02c"), zorder=3)
        label = f"{row.model}{' (registered)' if row.registered else ''}\n{row.latency_ms:.2f} ms/row"
        axes.annotate(label, (row.rows_per_s, row.test_score), textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("rows/s, predicting 10,000 raw rows (log scale)")
    axes.set_ylabel(f"test {metric}")
    axes.set_title("Teacher and students: score against speed", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.margins(x=0.3, y=0.2)
    return figure
