import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """One Prefect test server (temporary SQLite) for the whole session: each start costs seconds."""
    with prefect_test_harness(server_startup_timeout=60):
        yield
