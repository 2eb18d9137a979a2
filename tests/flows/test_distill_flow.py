"""The automl-distill flow on the session's Prefect test server: a distillation of the `shop` champion
(one boosting student, no augmentation: wiring, not quality) registers its student and leaves the
comparison as the flow run's report; a teacher that does not exist fails the first task in one line
and writes nothing."""

import httpx
import pytest
from mlflow import MlflowClient
from prefect.settings import PREFECT_API_URL

from automl.config import parse_config
from flows.distill import automl_distill
from tests.distill.conftest import store_state

pytestmark = pytest.mark.e2e  # on the session's Prefect server (tests/flows/conftest.py)


def _report(key: str) -> str | None:
    """The newest markdown artifact of this key, read from the API as test_operations.py reads one."""
    found = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter",
                       json={"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1}).json()
    return found[0]["data"] if found else None


def _config(shop_teacher):
    values = shop_teacher.config.model_dump(mode="json")
    values["distill"] = {"n_trials": 1, "students": ["hist_gradient_boosting"], "augment_max": 0}
    return parse_config(values)


def test_the_flow_registers_the_student_and_reports_the_comparison(shop_teacher):
    summary = automl_distill(_config(shop_teacher))
    client = MlflowClient(shop_teacher.tracking_uri)
    assert summary["alias"] == "student" and summary["registered"] == "student"
    assert str(client.get_model_version_by_alias("shop", "student").version) == summary["version"]
    assert str(client.get_model_version_by_alias("shop", "champion").version) == "1"
    assert summary["student"].startswith("hist_gradient_boosting") and summary["speed_ratio"] > 0
    report = _report("shop-distillation")
    assert report is not None and f"→ v{summary['version']} @student" in report
    assert "| teacher | shop v1 |" in report and "rows_per_s" in report


def test_a_teacher_that_does_not_exist_fails_the_first_task_in_one_line(shop_teacher):
    before = store_state(shop_teacher.tracking_uri)
    state = automl_distill(_config(shop_teacher), teacher="models:/shop@nope", return_state=True)
    assert state.is_failed() and "\n" not in state.message
    assert state.message.startswith("check-distillation: model 'shop' has no alias 'nope'")
    assert store_state(shop_teacher.tracking_uri) == before
