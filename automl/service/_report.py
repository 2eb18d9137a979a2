"""What a monitoring run leaves: an MLflow run in `<model>-monitoring` (psi/<column> metrics, the
drift table sorted by drift, an HTML report with one plot per drifted column and the predictions'
plot, inline PNGs so the one file opens anywhere), and the markdown a Prefect artifact shows.

The HTML is written here, not by the `evidently` package: the report has two kinds of plot and a
table, and evidently would add a large dependency (and its own binning) to a product that already
has matplotlib and computes its measures from the stored reference.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
from mlflow import MlflowClient

from automl.names import metric_name
from automl.service._drift import ColumnCounts
from automl.service._monitor import PREDICTION, MonitorResult
from automl.service._runs import service_run
from automl.tracking import RunLog

TOP = 10  # columns shown in the markdown artifact
RETRAIN_FLOW_RUN_TAG = "automl.retrain_flow_run"  # the monitoring run's tag: the training flow run it started


def verdict(result: MonitorResult) -> str:
    if result.drifted:
        return "drifted: " + "; ".join(result.reasons)
    return f"no drift (every column's PSI ≤ {result.settings.psi_threshold:g})"


def log_monitoring(result: MonitorResult, source: str) -> str:
    """The monitoring run (made once the batch has been measured); its id, also set on `result`."""
    run = service_run(result.version, "monitoring", {"drifted": str(result.drifted).lower(),
                                                     "decision": verdict(result)[:5000]})
    log = RunLog(run)
    columns = result.table[result.table["kind"] != "prediction"]
    metrics = {f"psi/{metric_name(row.column)}": float(row.psi) for row in columns.itertuples()}
    metrics.update(prediction_psi=result.prediction_psi, rows=result.rows, test_score=result.test_score,
                   drifted=float(result.drifted), max_psi=float(columns["psi"].max()) if len(columns) else 0.0)
    if result.live_score is not None:
        metrics["live_score"] = result.live_score
    log.log(params={"input": source, "psi_threshold": result.settings.psi_threshold,
                    "max_score_drop": result.settings.max_score_drop, "metric": result.metric},
            metrics=metrics)
    log.log_table(result.table, "drift/drift_table.csv")
    log.log_text(html_report(result), "drift/report.html")
    log.end()
    result.run_id = run.run_id
    return run.run_id


def note_retrain(result: MonitorResult, flow_run_id: str) -> None:
    """Tag the monitoring run with the training flow run it started; that run's MLflow parent run
    carries it as prefect.flow_run_id, and this run's id as automl.monitoring_run."""
    MlflowClient(result.version.tracking_uri).set_tag(result.run_id, RETRAIN_FLOW_RUN_TAG, flow_run_id)


def _plot(name: str, counts: ColumnCounts, psi: float) -> str:
    """Reference vs batch shares as a bar chart, a base64 PNG."""
    from matplotlib.figure import Figure  # here, not at import: matplotlib is imported when a plot is drawn

    labels, reference, batch = counts.batch_shares()
    figure = Figure(figsize=(max(5.0, 0.5 * len(labels) + 2), 3.2))  # (no pyplot: the user's backend stays)
    axes = figure.subplots()
    x = np.arange(len(labels))
    axes.bar(x - 0.2, reference, 0.4, label="reference (training)")
    axes.bar(x + 0.2, batch, 0.4, label="batch")
    axes.set_xticks(x, labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center",
                    fontsize=8)
    axes.set_ylabel("share of rows")
    axes.set_title(f"{name}: PSI {psi:.3f}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def html_report(result: MonitorResult) -> str:
    """One self-contained page: the decision, a plot per drifted column and the predictions', the table."""
    v = result.version
    drifted = result.table[(result.table["psi"] > result.settings.psi_threshold)
                           | (result.table["column"] == PREDICTION)]
    plots = "".join(f'<figure><img alt="{html.escape(row.column)}" src="data:image/png;base64,'
                    f'{_plot(row.column, result.counts[row.column], row.psi)}"></figure>'
                    for row in drifted.itertuples())
    live = "" if result.live_score is None else f", live {result.live_score:.4f}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Drift: {html.escape(v.name)} v{v.version}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
            "figure{display:inline-block;margin:0 1em 1em 0}"
            ".drifted{color:#b00}</style></head><body>"
            f"<h1>Drift of {html.escape(v.name)} v{v.version}</h1>"
            f"<p class='{'drifted' if result.drifted else ''}'><b>{html.escape(verdict(result))}</b></p>"
            f"<p>{result.rows} rows; test {result.metric} {result.test_score:.4f}{live}; "
            f"prediction PSI {result.prediction_psi:.3f}</p>{plots}<h2>Every column, most drifted first</h2>"
            f"{result.table.to_html(index=False, float_format=lambda x: f'{x:.4f}', na_rep='')}</body></html>")


def monitor_markdown(result: MonitorResult) -> str:
    """The Prefect artifact: the decision and the top columns."""
    v = result.version
    lines = [f"# Drift of {v.name} v{v.version}", "", f"**{verdict(result)}**", "",
             f"{result.rows} rows; test {result.metric} {result.test_score:.4f}"
             + ("" if result.live_score is None else f", live {result.live_score:.4f}")
             + f"; prediction PSI {result.prediction_psi:.3f}; MLflow run `{result.run_id}`", "",
             "| column | kind | PSI | missing change | unseen share |", "| --- | --- | ---: | ---: | ---: |"]
    for row in result.table.head(TOP).itertuples():
        unseen = "" if np.isnan(row.unseen_share) else f"{row.unseen_share:.3f}"
        lines.append(f"| {row.column} | {row.kind} | {row.psi:.3f} | {row.missing_change:+.3f} | {unseen} |")
    return "\n".join(lines)
