"""Bad inputs, as a new user makes them: files, configs and stores. Each goes through `automl
validate` and `automl run` and must give exit code 2, one `automl: error:` line first that names
the value and the fix, no traceback, and nothing written (no MLflow store, no Optuna storage, no
artifacts, no registry). `automl score` and `automl monitor` (SERVICE_CASES) refuse a bad model, store
or batch the same way, on the session's champion, leaving no run, no output and no store. Unusual
inputs `validate` accepts with a guess (SAID) must say it, with the fix; what it accepts, a run
finishes (tests/test_accepted_runs.py: the property test)."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from automl.data import load_dataset
from automl.data._dtypes import plain_columns
from automl.evaluation import EvaluationError, holdout_metrics
from automl.pipeline import run_pipeline
from flows.cli import main
from tests.customers import customers

ROOT = Path(__file__).resolve().parents[1]


def good_csv(folder: Path, name="table.csv", n=60, **extra) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, size=n),
                          "y": np.where(rng.normal(size=n) > 0, "yes", "no"), **extra})
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def parquet(folder: Path, name: str, frame: pd.DataFrame | None = None) -> Path:
    path = folder / name
    (frame if frame is not None else pd.read_csv(good_csv(folder, "for-parquet.csv"))).to_parquet(path)
    return path


def a_file(folder: Path) -> Path:
    return write(folder, "plain-file", "not a folder")


# Each case: (id, a function of the folder returning config values to merge (or a whole config
# text under "__text__", or argv extras under "__args__"), the start of the message after
# "automl: error: "). Stores go to folder/"mlruns" unless a case says otherwise.
CASES = [
    # -- data files -----------------------------------------------------------------------------
    ("missing-file", lambda f: {"data": {"source": str(f / "nope.csv"), "target": "y"}},
     r"data.source '.*nope.csv' is not a file; give a CSV or Parquet path"),
    ("source-is-a-folder", lambda f: {"data": {"source": str(f), "target": "y"}}, r"data.source '.*' is a folder"),
    ("excel-file", lambda f: {"data": {"source": str(write(f, "t.xlsx", "x")), "target": "y"}},
     r"data.source '.*t.xlsx' has suffix '.xlsx'; use a .csv or .parquet file"),
    ("empty-csv", lambda f: {"data": {"source": str(write(f, "e.csv", "")), "target": "y"}},
     r"data.source '.*e.csv' is empty \(0 bytes\)"),
    ("blank-lines-csv", lambda f: {"data": {"source": str(write(f, "b.csv", "\n\n\n")), "target": "y"}},
     r"data.source '.*b.csv' holds no columns"),
    ("latin-1-csv", lambda f: {"data": {"source": str(write(f, "l.csv", "name,y\nJosé,1\nRenée,0\n".encode("latin-1"))),
                                        "target": "y"}},
     r"data.source '.*l.csv' is not utf-8 text \(byte b'\\xe9' on line 2\); it reads as cp1252: set data.encoding: cp1252"),
    ("csv-named-parquet", lambda f: {"data": {"source": str(write(f, "t.parquet", "a,y\n1,2\n")), "target": "y"}},
     r"data.source '.*t.parquet' is not a Parquet file \(it starts with b'a,y\\n': text, perhaps CSV\); "
     r"if it is a CSV, rename it to .csv"),
    ("damaged-parquet", lambda f: {"data": {"source": str(write(f, "d.parquet", b"PAR1" + b"\0" * 40)), "target": "y"}},
     r"data.source '.*d.parquet' is a damaged Parquet file"),
    ("parquet-named-csv", lambda f: {"data": {"source": str(parquet(f, "p.csv")), "target": "y"}},
     r"data.source '.*p.csv' is a Parquet file \(it starts with b'PAR1'\), not a CSV; rename it to .parquet"),
    ("xlsx-named-csv", lambda f: {"data": {"source": str(write(f, "x.csv", b"PK\x03\x04" + b"\0" * 40)), "target": "y"}},
     r"data.source '.*x.csv' is a ZIP archive \(an Excel .xlsx workbook, or a zipped file\).*, not a CSV"),
    ("repeated-header", lambda f: {"data": {"source": str(write(f, "r.csv", "x1,x2,x1,y\n1,2,3,a\n")), "target": "y"}},
     r"data.source '.*r.csv' repeats column names \['x1'\] in its header; rename them"),
    ("ragged-rows", lambda f: {"data": {"source": str(write(f, "g.csv", "a,b,y\n1,2,3\n1,2,3,4,5\n")), "target": "y"}},
     r"data.source '.*g.csv' is not a well-formed CSV with delimiter ',' \(Error tokenizing data"),
    ("forced-wrong-delimiter", lambda f: {"data": {"source": str(good_csv(f)).replace("table", "table"), "target": "y",
                                                   "delimiter": ";"}},
     r"target column 'y' is not in the table 'table'\. Columns: a,b,y\. The header reads as a single column: "
     r"the delimiter is probably ','; set data.delimiter: ','"),
    ("unknown-bundled-set", lambda f: {"data": {"source": "sklearn:breast_cancr"}},
     r"unknown bundled data set 'sklearn:breast_cancr'. Did you mean 'sklearn:breast_cancer'\?"),
    ("test-source-missing", lambda f: {"data": {"source": str(good_csv(f)), "target": "y",
                                                "test_source": str(f / "holdout.csv")}},
     r"data.test_source '.*holdout.csv' is not a file"),
    ("test-source-other-columns", lambda f: {"data": {"source": str(good_csv(f)), "target": "y",
                                                      "test_source": str(good_csv(f, "t2.csv", c=1))}},
     r"data.test_source '.*t2.csv' must have the training table's columns in the same order; missing \[\], "
     r"extra \['c'\]"),
    ("test-source-unlabelled", lambda f: {"data": {"source": str(good_csv(f)), "target": "y",
                                                   "test_source": str(write(f, "u.csv", "a,b,y\n1,2,\n3,4,\n"))}},
     r"data.test_source '.*u.csv' leaves no labelled rows on one side"),
    ("test-source-latin-1", lambda f: {"data": {"source": str(good_csv(f)), "target": "y",
                                                "test_source": str(write(f, "t3.csv", "a,b,y\n1,2,é\n".encode("latin-1")))}},
     r"data.test_source '.*t3.csv' is not utf-8 text"),
    # -- the table's content ----------------------------------------------------------------------
    ("target-misspelt", lambda f: {"data": {"source": str(good_csv(f)), "target": "Y"}},
     r"target column 'Y' is not in the table 'table'. Did you mean 'y'\?"),
    ("no-target-given", lambda f: {"data": {"source": str(good_csv(f)), "target": None}},
     r"no target column given for '.*table.csv'; set data.target to one of: a, b, y"),
    ("target-all-missing", lambda f: {"data": {"source": str(write(f, "m.csv", "a,y\n" + "1,\n" * 30)), "target": "y"}},
     r"target column 'y' has no values"),
    ("target-one-value", lambda f: {"data": {"source": str(write(f, "o.csv", "a,y\n" + "".join(f"{i},k\n" for i in range(30)))),
                                             "target": "y"}},
     r"target column 'y' has a single value \('k'\)"),
    ("only-the-target", lambda f: {"data": {"source": str(write(f, "t.csv", "y\n" + "a\nb\n" * 20)), "target": "y"}},
     r"the table 't' has no feature columns besides the target 'y'"),
    ("too-few-rows", lambda f: {"data": {"source": str(good_csv(f, n=4)), "target": "y"}},
     r"4 rows are too few for a 20% test split and 2 CV folds"),
    ("rare-class", lambda f: {"data": {"source": str(write(f, "rc.csv", "a,y\n" + "".join(f"{i % 7},{'ab'[i % 2]}\n" for i in range(40))
                                                     + "9,c\n")), "target": "y"}},
     r"classes with too few rows for 2 folds and a test split: \{'c': 1\}"),
    ("many-rare-classes", lambda f: {"data": {"source": str(write(f, "mc.csv", "a,y\n" + "".join(
        f"{i % 7},{'ab'[i % 2]}\n" for i in range(40)) + "".join(f"{i},class-{i:04d}\n" for i in range(300)))),
        "target": "y"}},
     r"classes with too few rows for 2 folds and a test split: 300 of 302 classes; the five smallest: "
     r"\{'class-0000': 1, 'class-0001': 1, 'class-0002': 1, 'class-0003': 1, 'class-0004': 1\} \(each needs"),
    ("target-beyond-float32", lambda f: {"data": {"source": str(write(f, "big.csv", "a,y\n" + "".join(
        f"{i % 7},{i * 1.5}\n" for i in range(39)) + "3,1e200\n")), "target": "y"}},
     r"target column 'y' holds 1e\+200, beyond ±3.4e\+38, where the metrics overflow to inf; rescale the target"),
    ("target-only-infinite", lambda f: {"data": {"source": str(write(f, "inf.csv", "a,y\n" + "".join(
        f"{i},inf\n" for i in range(30)))), "target": "y"}},
     r"target column 'y' has no values"),
    ("features-all-constant", lambda f: {"data": {"source": str(write(f, "k.csv", "a,b,y\n" + "".join(
        f"1,x,{'ab'[i % 2]}\n" for i in range(40)))), "target": "y"}},
     r"the table 'k' has no usable feature columns \(a: constant, dropped \(the same value \(1\) in every row"),
    ("drop-unknown-column", lambda f: {"data": {"source": str(good_csv(f)), "target": "y", "drop_columns": ["bb"]}},
     r"data.drop_columns names columns that are not in the table: \['bb'\]. Did you mean 'b' for 'bb'\? Columns: a, b, y"),
    ("drop-the-target", lambda f: {"data": {"source": str(good_csv(f)), "target": "y", "drop_columns": ["y"]}},
     r"data.drop_columns drops the target 'y'; remove it from drop_columns"),
    ("all-empty-column", lambda f: {"data": {"source": str(good_csv(f, blank=np.nan)), "target": "y"}},
     r"columns with no values at all: \['blank'\]; add them to data.drop_columns"),
    ("only-ids", lambda f: {"data": {"source": str(write(f, "ids.csv", "id,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(40)))),
                                     "target": "y"}},
     r"the table 'ids' has no usable feature columns \(id: id, dropped"),
    ("regression-on-labels", lambda f: {"data": {"source": str(good_csv(f)), "target": "y"}, "task": "regression"},
     r"task 'regression' needs a numeric target, but 'y' holds .* values such as 'no'; set task: binary or multiclass"),
    ("classes-from-fractions", lambda f: {"data": {"source": str(good_csv(f)), "target": "a"}, "task": "multiclass"},
     r"task 'multiclass' needs class labels, but target 'a' holds fractional numbers"),
    ("binary-with-three-classes", lambda f: {"data": {"source": str(good_csv(f)), "target": "b"}, "task": "binary"},
     r"task 'binary' needs two classes, but 'b' has 5"),
    ("metric-for-another-task", lambda f: {"data": {"source": str(good_csv(f)), "target": "y"}, "metric": "rmse"},
     r"metric 'rmse' does not fit task 'binary'"),
    ("min-k-above-the-features", lambda f: {"data": {"source": str(good_csv(f)), "target": "y"}, "features": {"min_k": 50}},
     r"features.min_k is 50, but the table gives at most 2 features .*; set features.min_k to at most 2"),
    ("score-func-for-another-task", lambda f: {"data": {"source": str(good_csv(f)), "target": "y"},
                                               "features": {"score_funcs": ["f_regression"]}},
     r".*f_regression"),
    # -- free text (issue 29) ------------------------------------------------------------------------
    ("text-column-all-empty", lambda f: {"data": {"source": str(good_csv(f, note=" ")), "target": "y"}, "text": {"columns": ["note"]}},
     r"text column 'note' is empty in every row; remove it from text.columns"),
    ("text-column-of-numbers", lambda f: {"data": {"source": str(good_csv(f)), "target": "y"}, "text": {"columns": ["a"]}},
     r"text column 'a' holds numbers, not text; remove it from text.columns"),
    ("text-column-unknown", lambda f: {"data": {"source": str(good_csv(f, note="x")), "target": "y"}, "text": {"columns": ["nte"]}},
     r"text.columns names 'nte', which is not in the table. Did you mean 'note'\? Remove it from text.columns"),
    ("text-in-another-encoding", lambda f: {"data": {"source": str(good_csv(f, review=[f"the café served {i} crêpes, très bon" for i in range(60)])),
                                                     "target": "y", "encoding": "latin-1"}},
     r"text column 'review' reads as UTF-8 decoded with another encoding \(60 cells, e.g. 'the cafÃ©.*'\); set data.encoding: utf-8"),
    # -- the config itself --------------------------------------------------------------------------
    ("config-missing", lambda f: {"__path__": str(f / "nope.yaml")},
     r"config file '.*nope.yaml' does not exist; pass a YAML file such as config/breast_cancer.yaml"),
    ("config-bad-yaml", lambda f: {"__text__": "search: [n_trials: 3\n"},
     r"config file '.*' is not valid YAML: line 2, column 1: expected ',' or '\]', but got '<stream end>' "
     r"\(while parsing a flow sequence from line 1, column 9\)$"),
    ("config-tab-indent", lambda f: {"__text__": "name: a\n\tseed: 1\n"},
     r"config file '.*' is not valid YAML: line 2, column 1: found character '\\t' that cannot start any token$"),
    ("config-key-twice", lambda f: {"__text__": "name: churn\nseed: 1\nname: churn2\n"},
     r"config file '.*' is not valid YAML: key 'name' is given twice \(lines 1 and 3\); keep one$"),
    ("config-nested-key-twice", lambda f: {"__text__": "data:\n  source: a.csv\n  target: y\n  target: z\n"},
     r"config file '.*' is not valid YAML: key 'target' is given twice \(lines 3 and 4\); keep one$"),
    ("config-empty", lambda f: {"__text__": "# nothing yet\n"},
     r"config file '.*case.yaml' is empty; write at least data.source and data.target"),
    ("registered-model-with-a-slash", lambda f: {"tracking": {"registered_model": "team/churn"}},
     r"invalid run config '.*case.yaml': tracking.registered_model: 'team/churn' is not a name MLflow takes"),
    ("experiment-with-a-quote", lambda f: {"tracking": {"experiment": "bob's"}},
     r"invalid run config '.*case.yaml': tracking.experiment: 'bob's' is not a name MLflow takes"),
    ("config-a-list", lambda f: {"__text__": "- a\n- b\n"}, r"config file '.*' must hold a mapping of keys, got list"),
    ("config-python-tag", lambda f: {"__text__": "name: !!python/object/apply:os.system ['touch pwned']\n"},
     r"config file '.*' is not valid YAML"),
    ("unknown-top-key", lambda f: {"serch": {}}, r"invalid run config '.*case.yaml': \(top level\): unknown key 'serch' in RunConfig. Did you mean 'search'\?"),
    ("unknown-section-key", lambda f: {"search": {"n_trails": 3}}, r"invalid run config '.*case.yaml': search: unknown key 'n_trails'.*Did you mean 'n_trials'\?"),
    ("trials-not-a-number", lambda f: {"search": {"n_trials": "many"}}, r"invalid run config '.*case.yaml': search.n_trials: .*\(got 'many'\)"),
    ("zero-trials", lambda f: {"search": {"n_trials": 0}}, r"invalid run config '.*case.yaml': search.n_trials: Input should be greater than or equal to 1"),
    ("no-budget", lambda f: {"search": {"n_trials": None, "timeout_s": None}},
     r"invalid run config '.*case.yaml': search: the search needs a budget: set search.n_trials"),
    ("unknown-family", lambda f: {"search": {"families": ["xgboost"]}}, r"invalid run config '.*case.yaml': search.families.0: Input should be 'linear'"),
    ("family-twice", lambda f: {"search": {"families": ["linear", "linear"]}}, r"invalid run config '.*case.yaml': .*search.families lists a family twice"),
    ("one-fold", lambda f: {"search": {"cv_folds": 1}}, r"invalid run config '.*case.yaml': search.cv_folds: Input should be greater than or equal to 2"),
    ("test-size-above-one", lambda f: {"data": {"test_size": 1.5}}, r"invalid run config '.*case.yaml': data.test_size: Input should be less than 0.9"),
    ("unknown-metric", lambda f: {"metric": "auc"}, r"invalid run config '.*case.yaml': metric: Input should be 'auto', 'roc_auc'"),
    ("unknown-task", lambda f: {"task": "clustering"}, r"invalid run config '.*case.yaml': task: Input should be 'auto', 'binary'"),
    ("name-with-a-space", lambda f: {"name": "my run"}, r"invalid run config '.*case.yaml': name: String should match pattern"),
    ("pack-of-one", lambda f: {"search": {"pack_size": 1}}, r"invalid run config '.*case.yaml': search.pack_size: Input should be greater than or equal to 2"),
    ("unknown-device", lambda f: {"device": "tpu"}, r"invalid run config '.*case.yaml': device: Input should be 'auto', 'cpu' or 'cuda'"),
    ("unknown-encoding", lambda f: {"data": {"encoding": "klingon"}}, r"invalid run config '.*case.yaml': .*data.encoding 'klingon' is not a text encoding"),
    ("long-delimiter", lambda f: {"data": {"delimiter": ";;"}}, r"invalid run config '.*case.yaml': data.delimiter: String should have at most 1 character"),
    ("cron-four-fields", lambda f: {"schedule": {"cron": "0 3 * *"}}, r"invalid run config '.*case.yaml': .*cron '0 3 \* \*' must have 5 fields"),
    ("bad-timezone", lambda f: {"schedule": {"cron": "0 3 * * *", "timezone": "Mars/Olympus"}},
     r"invalid run config '.*case.yaml': .*timezone 'Mars/Olympus' is not an IANA timezone"),
    ("cron-and-interval", lambda f: {"schedule": {"cron": "0 3 * * *", "interval_s": 60}},
     r"invalid run config '.*case.yaml': .*a schedule needs exactly one of cron"),
    ("monitor-schedule-without-a-batch", lambda f: {"monitor": {"schedule": {"cron": "0 6 * * *"}}},
     r"invalid run config '.*case.yaml': monitor: monitor.schedule needs monitor.input, the batch to watch"),
    ("score-output-not-a-table", lambda f: {"score": {"input": "incoming/*.csv", "output": "out.xlsx"}},
     r"invalid run config '.*case.yaml': score.output: score.output 'out.xlsx' must end in .csv or .parquet"),
    ("score-without-output", lambda f: {"score": {"input": "incoming/*.csv"}},
     r"invalid run config '.*case.yaml': score.output: Field required"),
    ("override-without-equals", lambda f: {"__args__": ["--set", "search.n_trials"]},
     r"override 'search.n_trials' must look like key=value"),
    ("override-into-a-value", lambda f: {"__args__": ["--set", "name.first=x"]}, r"override 'name.first=x': 'name' is not a section"),
    # -- stores ---------------------------------------------------------------------------------------
    ("tracking-nobody-listens", lambda f: {"tracking": {"tracking_uri": "http://127.0.0.1:9/"}},
     r"tracking.tracking_uri 'http://127.0.0.1:9/' does not answer within 5 s .*; start the MLflow server"),
    ("tracking-file-store", lambda f: {"tracking": {"tracking_uri": str(f / "mlruns")}},
     r"tracking.tracking_uri '.*mlruns' is not a store this MLflow writes to"),
    ("tracking-sqlite-no-file", lambda f: {"tracking": {"tracking_uri": "sqlite://"}},
     r"tracking.tracking_uri 'sqlite://' names no file"),
    ("tracking-under-a-file", lambda f: {"tracking": {"tracking_uri": f"sqlite:///{a_file(f)}/mlflow.db"}},
     r"tracking.tracking_uri '.*plain-file/mlflow.db' lies under '.*plain-file', which is a file, not a folder"),
    ("tracking-in-proc", lambda f: {"tracking": {"tracking_uri": "sqlite:////proc/automl/mlflow.db"}},
     r"tracking.tracking_uri '/proc/automl/mlflow.db': cannot write in '/proc'"),
    ("tracking-postgres-without-driver", lambda f: {"tracking": {"tracking_uri": "postgresql+pg8000://me:s3cret@127.0.0.1:1/db"}},
     r"tracking.tracking_uri 'postgresql\+pg8000://me:\*\*\*@127.0.0.1:1/db' needs the database driver 'pg8000', which "
     r"is not installed; run: pip install pg8000"),
    ("artifacts-under-a-file", lambda f: {"tracking": {"artifact_location": str(a_file(f) / "artifacts")}},
     r"tracking.artifact_location '.*plain-file/artifacts' lies under"),
    ("artifacts-is-a-file", lambda f: {"tracking": {"artifact_location": str(a_file(f))}},
     r"tracking.artifact_location '.*plain-file' is a file; it must name a folder"),
    ("journal-under-a-file", lambda f: {"tracking": {"optuna_storage": str(a_file(f) / "optuna.journal")}},
     r"tracking.optuna_storage '.*plain-file/optuna.journal' lies under '.*plain-file', which is a file"),
    ("journal-in-proc", lambda f: {"tracking": {"optuna_storage": "/proc/automl/optuna.journal"}},
     r"tracking.optuna_storage '/proc/automl/optuna.journal': cannot write in '/proc'"),
    ("journal-is-a-folder", lambda f: {"tracking": {"optuna_storage": str(f)}},
     r"tracking.optuna_storage '.*' is a folder; it must name a file"),
    ("storage-postgres-not-listening", lambda f: {"tracking": {"optuna_storage": "postgresql://u:pw@127.0.0.1:1/optuna"}},
     r"tracking.optuna_storage 'postgresql://u:\*\*\*@127.0.0.1:1/optuna' does not accept a connection \(.*\); "
     r"start the database"),
    ("storage-mysql-without-driver", lambda f: {"tracking": {"optuna_storage": "mysql+pymysql://u:pw@127.0.0.1/optuna"}},
     r"tracking.optuna_storage 'mysql\+pymysql://u:\*\*\*@127.0.0.1/optuna' needs the database driver 'pymysql'.*"
     r"pip install PyMySQL"),
    ("storage-unknown-scheme", lambda f: {"tracking": {"optuna_storage": "nosuchdb://u@h/x"}},
     r"tracking.optuna_storage 'nosuchdb://u@h/x' is not a database URL SQLAlchemy knows"),
    ("storage-unset-variable", lambda f: {"tracking": {"optuna_storage": "${AUTOML_TEST_UNSET_URL}"}},
     r"tracking.optuna_storage names \$\{AUTOML_TEST_UNSET_URL\}, which is not set in this environment; "
     r"export AUTOML_TEST_UNSET_URL="),
]


def prepare(folder: Path, make) -> tuple[list[str], Path]:
    """The argv tail (config path and extras) for a case, and the store folder that must stay empty."""
    store = folder / "mlruns"
    source = good_csv(folder, "base.csv")
    values = make(folder)
    if "__path__" in values:
        return [values["__path__"]], store
    path = folder / "case.yaml"
    if "__text__" in values:
        path.write_text(values["__text__"])
        return [str(path)], store
    extras = values.pop("__args__", [])
    config = {"name": "case", "data": {"source": str(source), "target": "y"},
              "search": {"n_trials": 2, "cv_folds": 2, "families": ["linear"]},
              "tracking": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}", "artifact_location": str(store / "artifacts"),
                           "optuna_storage": str(store / "optuna.journal")}}
    for key, value in values.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and isinstance(config.get(key), dict) else value
    path.write_text(yaml.safe_dump(config))
    return [str(path), *extras], store


def written(folder: Path, store: Path) -> list[str]:
    """Anything a run would have written: the store folder, or a store file anywhere under the case folder."""
    found = [str(p) for p in folder.rglob("*") if p.name in ("mlflow.db", "optuna.journal", "artifacts", "pwned")]
    return found + ([str(store)] if store.exists() else [])


def test_the_base_every_case_changes_is_valid(tmp_path, capsys):
    """The control: with no case applied, the config and table validate (exit 0, no error, nothing
    written), so each case's error comes from its own change; and each case has its own id."""
    args, store = prepare(tmp_path, lambda folder: {})
    assert main(["validate", *args]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "60 rows, 2 columns" in out
    assert written(tmp_path, store) == []
    assert len(CASES) >= 60 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("make, message", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_line_and_nothing_written(tmp_path, capsys, command, make, message):
    args, store = prepare(tmp_path, make)
    assert main([command, *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("automl: error: "), err
    first = err.removeprefix("automl: error: ")
    assert re.match(message, first, re.S), first
    assert "Traceback" not in out + err and out == "" and err.count("\n") == 1  # one line
    assert len(err) < 600, err
    assert written(tmp_path, store) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA, so device: cuda is valid here")
def test_cuda_asked_for_on_a_machine_without_it(tmp_path, capsys):
    args, store = prepare(tmp_path, lambda f: {"device": "cuda", "search": {"families": ["mlp"]}})
    assert main(["run", *args]) == 2
    assert "cuda" in capsys.readouterr().err.lower() and written(tmp_path, store) == []


def test_the_real_command_prints_one_line_and_debug_the_traceback(tmp_path):
    args, store = prepare(tmp_path, lambda f: {"data": {"source": str(write(f, "e.csv", "")), "target": "y"}})
    quiet = subprocess.run([sys.executable, "-m", "flows.cli", "run", *args], cwd=ROOT, capture_output=True, text=True)
    assert quiet.returncode == 2 and quiet.stderr.strip().count("\n") == 0
    assert quiet.stderr.startswith("automl: error: data.source") and "Traceback" not in quiet.stderr
    loud = subprocess.run([sys.executable, "-m", "flows.cli", "run", *args, "--debug"], cwd=ROOT, capture_output=True,
                          text=True)
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "DataError: data.source" in loud.stderr
    assert written(tmp_path, store) == []


# -- `automl score` and `automl monitor` on the session's champion (tests/conftest.py) ----------------
def batch(folder: Path, name: str = "batch.csv", rows: int = 40, change=None) -> Path:
    """A batch of the champion's columns (tests/customers.py), changed by `change`, as CSV or Parquet."""
    frame = customers(rows, seed=21)
    frame = change(frame) if change else frame
    path = folder / name
    frame.to_parquet(path, index=False) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    return path


BOTH = ("score", "monitor")
# Each case: (id, the commands it runs, a function of the folder returning what it changes: --model,
# --input or --tracking-uri, the start of the message after "automl: error: ").
SERVICE_CASES = [
    ("unknown-model", BOTH, lambda f: {"model": "models:/nobody@champion"},
     r"no registered model 'nobody' in sqlite:///.*mlflow.db; registered: (.*, )?customers"),
    ("unknown-alias", BOTH, lambda f: {"model": "models:/customers@staging"},
     r"model 'customers' has no alias 'staging'; it has versions 1; aliases champion \(v1\)"),
    ("unknown-version", BOTH, lambda f: {"model": "models:/customers/9"},
     r"model 'customers' has no version 9; it has versions 1; aliases champion \(v1\)"),
    ("not-a-model-uri", BOTH, lambda f: {"model": "customers@champion"},
     r"model 'customers@champion' is not a registered model URI; write models:/NAME@champion"),
    ("no-store-there", BOTH, lambda f: {"tracking_uri": f"sqlite:///{f / 'elsewhere' / 'mlflow.db'}"},
     r"no MLflow store at 'sqlite:///.*elsewhere/mlflow.db' \(.* does not exist\); give the store the model was "
     r"registered in"),
    ("input-missing", BOTH, lambda f: {"input": str(f / "nope.csv")}, r"input '.*nope.csv' does not exist"),
    ("excel-file", BOTH, lambda f: {"input": str(write(f, "b.xlsx", "x"))},
     r"input '.*b.xlsx' has suffix '.xlsx'; give a .csv or .parquet file"),
    ("csv-named-parquet", BOTH, lambda f: {"input": str(write(f, "b.parquet", "visits,spend\n1,2\n"))},
     r"input '.*b.parquet' is not a Parquet file \(it starts with b'visi': text, perhaps CSV\); "
     r"if it is a CSV, rename it to .csv"),
    ("parquet-named-csv", BOTH, lambda f: {"input": str(batch(f, "p.parquet").rename(f / "p.csv"))},
     r"input '.*p.csv' is a Parquet file \(it starts with b'PAR1'\), not a CSV; rename it to .parquet"),
    ("empty-file", BOTH, lambda f: {"input": str(write(f, "e.csv", ""))}, r"input '.*e.csv' is empty"),
    ("header-only", BOTH, lambda f: {"input": str(batch(f, change=lambda t: t.iloc[:0]))},
     r"input '.*batch.csv' holds no rows \(only a header\); give a batch with rows"),
    ("lacks-a-required-column", BOTH, lambda f: {"input": str(batch(f, change=lambda t: t.drop(columns="signal")))},
     r"input '.*batch.csv' lacks column 'signal', which the model requires"),
    ("target-of-another-type", ("monitor",),
     lambda f: {"input": str(batch(f, change=lambda t: t.assign(label=(t["label"] == "yes").astype(int))))},
     r"input '.*batch.csv': target column 'label' holds '\d', which is not a class of the model \(no, yes\)"),
    ("model-without-a-reference", ("monitor",), lambda f: {"model": "models:/bare/1"},
     r"model bare v1 has no reference profile"),
]
SERVICE_RUNS = [(command, *case[2:]) for case in SERVICE_CASES for command in case[1]]
SERVICE_IDS = [f"{command}-{case[0]}" for case in SERVICE_CASES for command in case[1]]


def service_args(folder: Path, command: str, uri: str, change: dict) -> list[str]:
    values = {"model": "models:/customers@champion", "tracking_uri": uri, **change}
    if "input" not in values:
        values["input"] = str(batch(folder))
    args = [command, "--model", values["model"], "--input", values["input"], "--tracking-uri", values["tracking_uri"]]
    return args + (["--output", str(folder / "out" / "predictions.csv")] if command == "score" else [])


def store_contents(uri: str) -> tuple[int, int]:
    """(runs, model versions) in the store: what a refused command must leave as it was."""
    client = mlflow.MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments, max_results=10_000)), len(client.search_model_versions())


@pytest.mark.parametrize("command, make, message", SERVICE_RUNS, ids=SERVICE_IDS)
def test_bad_service_input_is_one_clear_line_and_nothing_written(champion, unreferenced_model, tmp_path, capsys,
                                                                 command, make, message):
    uri = champion[1]
    (tmp_path / "out").mkdir()
    args = service_args(tmp_path, command, uri, make(tmp_path))
    before, files = store_contents(uri), sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert err.startswith("automl: error: "), err
    assert re.match(message, err.removeprefix("automl: error: ")), err
    assert "Traceback" not in out + err and out == "" and err.count("\n") == 1 and len(err) < 600, err
    assert store_contents(uri) == before and sorted(tmp_path.rglob("*")) == files  # no run, no output, no store


def test_a_service_command_with_debug_raises_the_error_itself(champion, tmp_path):
    from automl.service import ServiceError

    args = service_args(tmp_path, "monitor", champion[1], {"model": "models:/customers@staging"})
    with pytest.raises(ServiceError, match="has no alias 'staging'"):
        main([*args, "--debug"])


# -- inputs `validate` accepts with a decision the user must see ------------------------------------
def mostly_numbers(folder: Path) -> dict:
    """A column of numbers in which 'n.a.' and 'not measured' stand for missing values."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    cells = [f"{v:.2f}" if i % 6 else ("n.a." if i % 12 else "not measured") for i, v in enumerate(x)]
    frame = pd.DataFrame({"x": cells, "z": rng.normal(size=60), "y": np.where(x > 0, "yes", "no")})
    return {"data": {"source": str(parquet(folder, "m.parquet", frame)), "target": "y"}}


def decimal_commas(folder: Path) -> dict:
    """A ';'-separated file whose numbers all have three decimals: each reads as a decimal or as thousands."""
    rows = "".join(f"{i % 9},{(i * 37) % 1000:03d};{'ab'[i % 2]}\n" for i in range(40))
    return {"data": {"source": str(write(folder, "eu.csv", "x;y\n" + rows)), "target": "y"}}


def lists_in_parquet(folder: Path) -> dict:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"tags": [["a", "b"][: i % 3] for i in range(60)], "z": rng.normal(size=60),
                          "y": rng.choice(["yes", "no"], size=60)})
    return {"data": {"source": str(parquet(folder, "l.parquet", frame)), "target": "y"}}


def inf_in_regression_target(folder: Path) -> dict:
    rows = "".join(f"{i % 7},{i * 1.5 if i != 7 else 'inf'}\n" for i in range(40))
    return {"data": {"source": str(write(folder, "r.csv", "a,y\n" + rows)), "target": "y"}}


def one_constant_column(folder: Path) -> dict:
    return {"data": {"source": str(good_csv(folder, "c.csv", country="NL")), "target": "y"}}


def dtypes_parquet(folder: Path) -> dict:
    """The pandas dtypes a model's signature and input example cannot take as they are."""
    rng = np.random.default_rng(4)
    n = 60
    frame = pd.DataFrame({
        "colour": pd.Categorical(rng.choice(["red", "blue"], n)),
        "waited": pd.to_timedelta(rng.integers(0, 600, n), unit="s"),
        "month": pd.period_range("2024-01", periods=n, freq="M"),
        "signed": pd.date_range("2024-01-01", periods=n, freq="36h", tz="Europe/Amsterdam"),
        "visits": pd.array([*rng.integers(0, 9, n - 1), None], dtype="Int64"),
        "y": rng.choice(["yes", "no"], size=n)})
    return {"data": {"source": str(parquet(folder, "d.parquet", frame)), "target": "y"}}


SAID = [  # (id, config values, where, what the user now sees)
    ("numbers-with-words", mostly_numbers, "err",
     r"automl: warning: column 'x': 50 of 60 cells are numbers, 10 are words such as 'n.a.', 'not measured': read "
     r"as a category; if the words mean missing, set data.missing_values: \['n.a.', 'not measured'\]"),
    ("decimal-commas-in-a-semicolon-file", decimal_commas, "err",
     r"automl: warning: column 'x': '0,000' read as 0: ',' taken as the decimal mark \(the table's decimal mark: "
     r"data.decimal, or its ';' delimiter\); set data.decimal: '.' if it separates thousands"),
    ("lists-in-a-parquet-column", lists_in_parquet, "err",
     r"automl: warning: dropped column 'tags' \(nested\): lists or mappings in its cells"),
    ("inf-in-a-regression-target", inf_in_regression_target, "out",
     r"note: dropped 1 rows whose target 'y' is missing \(1 of them infinite\)"),
    ("a-constant-column", one_constant_column, "err",
     r"automl: warning: dropped column 'country' \(constant\): the same value \('NL'\) in every row"),
    ("parquet-dtypes", dtypes_parquet, "out", r"note: column 'waited': durations read as seconds\n"
     r"note: column 'month': periods read as their start dates"),
]


@pytest.mark.parametrize("make, where, seen", [case[1:] for case in SAID], ids=[case[0] for case in SAID])
def test_a_guess_is_said_and_nothing_written(tmp_path, capsys, make, where, seen):
    args, store = prepare(tmp_path, make)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (numpy's overflow warnings were all an inf target got)
        assert main(["validate", *args]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: 'case'") and "Traceback" not in out + err
    assert re.search(seen, out if where == "out" else err), out + err
    assert written(tmp_path, store) == []


def test_the_fixes_offered_read_the_columns_as_numbers(tmp_path, make_config):
    values = mostly_numbers(tmp_path)["data"]
    dataset = load_dataset(make_config(data={**values, "missing_values": ["n.a.", "not measured"]}))
    assert dataset.X["x"].dtype == "float64" and dataset.X["x"].isna().sum() == 10
    assert "x" in dataset.numeric_columns and not dataset.warnings
    eu = decimal_commas(tmp_path)["data"]
    assert load_dataset(make_config(data=eu)).X["x"].tolist()[:3] == [0.0, 1.037, 2.074]
    as_thousands = load_dataset(make_config(data={**eu, "decimal": "."})).X["x"]
    assert as_thousands.tolist()[:3] == [0.0, 1037.0, 2074.0]  # one reading for the whole column


def test_a_parquet_of_awkward_dtypes_runs_and_registers(tmp_path, make_config):
    """Categories, durations, periods, zoned dates and nullable integers: the run gets to registering
    (the input example and the signature take the columns as converted at load)."""
    config = make_config(name="dtypes", data=dtypes_parquet(tmp_path)["data"],
                         search={"n_trials": 1, "families": ["linear"], "ensemble": False})
    result = run_pipeline(config)
    assert result.registration.version == "1" and result.registration.moved_alias
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/dtypes@champion")
    rows = pd.read_parquet(tmp_path / "d.parquet").drop(columns="y").head(3)
    assert set(model.predict(plain_columns(rows)[0])) <= {"yes", "no"}


def test_a_non_finite_test_metric_is_a_failed_evaluation():
    class Overflowing:
        def predict(self, X):
            return np.full(len(X), 1e200)

    X, y = pd.DataFrame({"a": [1.0, 2.0, 3.0]}), np.array([1.0, 2.0, 3.0])
    with pytest.raises(EvaluationError, match=r"the final model's test metrics are not finite \(\{'test_rmse': inf"):
        holdout_metrics("regression", Overflowing(), X, y)
