"""Tables, ranks and a plot from the suite's raw rows (benchmarks/results/raw.csv)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
SECOND = {"binary": "accuracy", "multiclass": "log_loss", "regression": "rmse"}


def ranked(raw: pd.DataFrame) -> pd.DataFrame:
    ok = raw[raw.error.isna()].copy()
    ok["metric"] = ok.task.map(PRIMARY)
    ok["score"] = [row[row.metric] for _, row in ok.iterrows()]
    ok["second_metric"] = ok.task.map(SECOND)
    ok["second"] = [row[row.second_metric] for _, row in ok.iterrows()]
    ok["rank"] = ok.groupby(["budget_s", "table"])["score"].rank(ascending=False, method="min")
    return ok


ORDER = ["automl", "flaml", "autogluon", "hgb", "automl-tabm", "automl-mlp", "automl-hgb", "automl-all"]


def families_alone(group: pd.DataFrame) -> list[str]:
    """Issue 16's figure 1: each PyTorch family alone against boosting alone, points x 100 per table."""
    pivot = group.pivot(index="table", columns="contender", values="score")
    torch_families = [c for c in ("automl-tabm", "automl-mlp") if c in pivot]
    if "automl-hgb" not in pivot or not torch_families:
        return []
    lines = [""]  # the goal: the better family's mean gap above -0.5, and ahead on 3 of 8 tables
    for c in torch_families:
        gap = (100 * (pivot[c] - pivot["automl-hgb"])).dropna()
        lines.append(f"{c} − automl-hgb, points ×100: " + ", ".join(f"{t} {g:+.2f}" for t, g in gap.items())
                     + f"; mean {gap.mean():+.2f}; ahead on {(gap > 0).sum()} of {len(gap)}")
    return lines


def full_search(group: pd.DataFrame, committed: pd.DataFrame | None) -> list[str]:
    """Issue 16's figure 2: every family (tabm included) against the committed `automl` rows at this budget."""
    if committed is None or "automl-all" not in set(group.contender):
        return []
    reference = ranked(committed)
    reference = reference[(reference.contender == "automl") & (reference.budget_s == group.budget_s.iloc[0])]
    new = group[group.contender == "automl-all"].set_index("table")
    gap = (100 * (new.score - reference.set_index("table").score)).dropna()
    if gap.empty:
        return []
    return ["", "automl-all − committed automl, points ×100: " + ", ".join(f"{t} {g:+.2f}" for t, g in gap.items())
            + f"; better on {(gap > 0).sum()} of {len(gap)}; worst {gap.min():+.2f}; "
            f"max wall ÷ budget {new.wall_over_budget.max():.3f}"]


def write_report(raw: pd.DataFrame, folder: Path, machine: str, committed: pd.DataFrame | None = None) -> None:
    results = ranked(raw)
    columns = ["budget_s", "table", "contender", "metric", "score", "second_metric", "second", "fit_s",
               "wall_over_budget", "rank", "n_trials", "final"]
    results[columns].sort_values(["budget_s", "table", "rank"]).to_csv(folder / "results.csv", index=False)
    lines = [f"Machine: {machine}. Score: ROC AUC (binary), accuracy (multiclass), R² (regression) on the fixed "
             "25% test split; in brackets the second metric (accuracy, log-loss, RMSE); then wall ÷ budget.", ""]
    for budget, group in results.groupby("budget_s"):
        contenders = [c for c in ORDER if c in set(group.contender)]
        lines += [f"### Budget {int(budget)} s", "",
                  "| table | metric | " + " | ".join(contenders) + " |",
                  "| --- | --- | " + " | ".join("---:" for _ in contenders) + " |"]
        for table, rows in group.groupby("table", sort=False):
            cells = []
            for c in contenders:
                row = rows[rows.contender == c]
                if row.empty:
                    cells.append("–")
                    continue
                r = row.iloc[0]
                cells.append(f"{r.score:.4f} ({r.second:.4g}) ×{r.wall_over_budget:.2f} #{int(r['rank'])}")
            lines.append(f"| {table} | {rows.metric.iloc[0]} | " + " | ".join(cells) + " |")
        summary = group.groupby("contender").agg(mean_score=("score", "mean"), mean_rank=("rank", "mean"),
                                                 max_wall=("wall_over_budget", "max"), tables=("table", "count"))
        lines += ["", "| contender | tables | mean score | mean rank | max wall ÷ budget |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {c} | {int(r.tables)} | {r.mean_score:.4f} | {r.mean_rank:.2f} | {r.max_wall:.3f} |"
                  for c, r in summary.loc[[c for c in contenders if c in summary.index]].iterrows()]
        if {"automl", "flaml"} <= set(contenders):
            pivot = group.pivot(index="table", columns="contender", values="score")
            gap = (100 * (pivot["automl"] - pivot["flaml"])).dropna()
            lines += ["", "automl − flaml, points ×100: " + ", ".join(f"{t} {g:+.2f}" for t, g in gap.items())]
        lines += families_alone(group)
        lines += full_search(group, committed)
        lines.append("")
    errors = raw[raw.error.notna()]
    if len(errors):
        lines += ["Failed runs:", ""] + [f"- {r.budget_s:.0f} s {r.table} {r.contender}: {str(r.error)[-300:]!r}"
                                         for r in errors.itertuples()]
    (folder / "results.md").write_text("\n".join(lines) + "\n")
    plot(results, folder / "results.png")


def plot(results: pd.DataFrame, path: Path) -> None:
    tables = list(dict.fromkeys(results.table))
    contenders = [c for c in ORDER if c in set(results.contender)]
    budgets = sorted(results.budget_s.unique())
    fig, axes = plt.subplots(2, int(np.ceil(len(tables) / 2)), figsize=(4 * int(np.ceil(len(tables) / 2)), 7),
                             squeeze=False)
    width = 0.8 / len(contenders)
    for ax, table in zip(axes.flat, tables):
        rows = results[results.table == table]
        for i, c in enumerate(contenders):
            values = [rows[(rows.contender == c) & (rows.budget_s == b)].score.max() for b in budgets]
            ax.bar(np.arange(len(budgets)) + i * width, values, width, label=c)
        low = rows.score.min()
        span = rows.score.max() - low + 1e-3
        ax.set_ylim(low - 0.15 * span, rows.score.max() + 0.1 * span)
        ax.set_xticks(np.arange(len(budgets)) + 0.4 - width / 2, [f"{int(b)} s" for b in budgets])
        ax.set_title(f"{table} ({rows.metric.iloc[0]})")
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(contenders), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
