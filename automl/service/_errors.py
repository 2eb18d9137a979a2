"""The one error a service command raises for its caller's input."""

from automl.data import DataError


class ServiceError(DataError):
    """A model, batch or output that cannot be used: one line naming the value and the fix (a
    DataError, so `automl` prints it as `automl: error: ...` and exits 2)."""
