"""A write-behind worker: one thread runs the submitted calls in order, off the trials' path.

The search hands it each finished trial's journal record, so a trial never waits on a file write;
`flush()` waits for everything submitted and re-raises the first error. (MLflow child runs, ~16 ms
of Python each, go to a separate process instead: automl.writer.)
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


class Background:
    def __init__(self, name: str):
        self._queue: queue.Queue = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.put((fn, args))

    def flush(self) -> None:
        """Wait until every submitted call has run; raise the first error any of them raised."""
        self._queue.join()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def _work(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except BaseException as error:  # kept for flush(); the worker goes on
                self._errors.append(error)
            finally:
                self._queue.task_done()
