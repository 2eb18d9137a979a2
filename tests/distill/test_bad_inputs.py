"""`automl distill` refuses bad input in one line, exit 2, before anything is written: a teacher URI
that does not exist, a teacher that automl did not train or whose split is not on record, a config
whose table or split is not the teacher's, a student family that does not exist."""

import re

import mlflow
import pytest
from mlflow import MlflowClient

from flows.cli import main
from tests.customers import customers
from tests.distill.conftest import store_state


@pytest.fixture(scope="module")
def strangers(shop_teacher, tmp_path_factory) -> dict:
    """In the shop store: `handmade` v1, the champion's very served model logged by hand on a run that
    logs no split; `bare_shop` v1, an sklearn model; and a table with a column the teacher never saw."""
    from sklearn.dummy import DummyClassifier

    uri = shop_teacher.tracking_uri
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    served = mlflow.pyfunc.load_model("models:/shop/1").unwrap_python_model()
    with mlflow.start_run(experiment_id=client.create_experiment("handmade")):
        mlflow.pyfunc.log_model(name="model", python_model=served, registered_model_name="handmade",
                                pip_requirements=["scikit-learn"])
        mlflow.sklearn.log_model(DummyClassifier().fit([[0]], [0]), name="bare", registered_model_name="bare_shop",
                                 pip_requirements=["scikit-learn"])
    other = tmp_path_factory.mktemp("other") / "shop-with-region.csv"
    customers(300, seed=0).assign(region=["north", "south", "east"] * 100).to_csv(other, index=False)
    return {"other_table": str(other)}


@pytest.mark.parametrize("case, args, expected", [
    ("unknown_alias", ["--teacher", "models:/shop@staging"], r"model 'shop' has no alias 'staging'; it has versions 1"),
    ("unknown_model", ["--teacher", "models:/nobody@champion"], r"no registered model 'nobody' .*registered: .*shop"),
    ("not_a_model_uri", ["--teacher", "runs:/0123/model"], r"model 'runs:/0123/model' is not a registered model URI"),
    ("not_automl", ["--teacher", "models:/bare_shop/1"], r"teacher models:/bare_shop/1 .* is not a model automl run "
                                                         r"registered"),
    ("no_split_on_record", ["--teacher", "models:/handmade/1"], r"has no training split on record: its run \w+ logs"),
    ("other_table", ["--set", "data.source={other_table}"], r"was trained on another table than data.source .*: it "
                                                             r"reads columns none that the table lacks, and the table "
                                                             r"has \['region'\] it never saw"),
    ("other_seed", ["--set", "seed=1"], r"training split is not the one teacher models:/shop@champion \(shop v1\) "
                                        r"learned from: seed 0 \(the teacher's\) against 1;.*--set seed=0"),
    ("other_test_size", ["--set", "data.test_size=0.3"], r"n_train 240 \(the teacher's\) against 210"),
    ("unknown_student", ["--set", "distill.students=[xgboost]"], r"distill.students: unknown student family "
                                                                  r"'xgboost'. Students: mlp, hist_gradient_boosting"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(shop_teacher, strangers, capsys, case, args, expected):
    before = store_state(shop_teacher.tracking_uri)
    args = [arg.format(**strangers) for arg in args]
    assert main(["distill", str(shop_teacher.config_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("automl: error: "), err
    assert re.search(expected, err), err
    assert store_state(shop_teacher.tracking_uri) == before  # no experiment, run or model version made
