"""The one error `automl distill` raises for its caller's input."""

from automl.service import ServiceError


class DistillError(ServiceError):
    """A teacher, config or split that cannot be distilled: one line naming the value and the fix
    (a DataError, so `automl` prints it as `automl: error: ...` and exits 2). Raised before any run
    is made or model registered."""
