"""A writer process: calls run in order by a second Python process, off the search's GIL.

An MLflow child run costs about 16 ms of CPU per trial (SQLAlchemy), appending the trial to the
Optuna journal a few more. Made from a thread of the search's own process they still hold the GIL
the trials need; a second process makes them on another core. `submit(owner, fn, *args)` queues a
call (fn a module-level function, args picklable) and returns at once: a feeder thread pickles it
onto the process's stdin, so a trial never waits on the pipe. `flush(owner)` waits until the process
has run every call sent before it and raises the first error among that owner's calls.

Private to automl.tracking: TrialRuns (the MLflow child runs) and JournalMirror (the Optuna
journal) hand it their writes; nothing else starts it.

One process serves the whole Python process (every tracker and journal); it starts on first use,
starts again after a fork or a crash, and exits when its stdin closes, that is when this process
exits, after it has run what was queued. It is a plain `python -c` command that calls main(), so a
user's unguarded script is never imported twice (as multiprocessing's spawn would do).
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("!I")


def _send(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    return stream.read(_HEADER.unpack(header)[0])


class WriterProcess:
    def __init__(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # automl importable, installed or not
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.pid = os.getpid()
        command = [sys.executable, "-c", "from automl.tracking._writer import main; main()"]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._calls: queue.Queue = queue.Queue()
        self._flush_lock = threading.Lock()
        self._token = 0
        self._feeder = threading.Thread(target=self._feed, name="automl-writer-feeder", daemon=True)
        self._feeder.start()

    def alive(self) -> bool:
        return self._process.poll() is None and self.pid == os.getpid()

    def submit(self, owner: str, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.put(("call", owner, fn, args))

    def flush(self, owner: str) -> float:
        """Wait for every call submitted so far; return the seconds the process spent on this
        owner's calls since its last flush; raise the first error one of them raised."""
        with self._flush_lock:
            self._token += 1
            token = self._token
            self._calls.put(("flush", owner, token))
            while True:  # replies come in the order flushes were sent, and flushes are serialised
                data = _receive(self._process.stdout)
                if data is None:
                    raise RuntimeError(f"the automl writer process (pid {self._process.pid}) exited with code "
                                       f"{self._process.wait()} before writing every trial; its stderr says why")
                reply_token, seconds, error = pickle.loads(data)
                if reply_token == token:
                    break
        if error is not None:
            raise error
        return seconds

    def _feed(self) -> None:
        while True:
            message = self._calls.get()
            try:
                _send(self._process.stdin, message)
            except (BrokenPipeError, OSError):  # the process is gone: flush() reports it
                return


_shared: WriterProcess | None = None
_shared_lock = threading.Lock()


def writer_process() -> WriterProcess:
    """The process-wide writer, started (again) when there is none in this process."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive():
            _shared = WriterProcess()
        return _shared


def _portable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def main() -> None:
    """The process side: run each call; answer each flush with (token, seconds, first error)."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints from the calls go to stderr, not the protocol
    calls = sys.stdin.buffer
    seconds: dict[str, float] = {}
    errors: dict[str, BaseException] = {}
    while (data := _receive(calls)) is not None:
        started = time.perf_counter()
        try:
            message = pickle.loads(data)
        except Exception as error:  # e.g. a function this process cannot import: kept, not fatal
            errors.setdefault("", _portable(error))
            continue
        if message[0] == "flush":
            _, owner, token = message
            error = errors.pop(owner, None) or errors.pop("", None)
            _send(replies, (token, seconds.pop(owner, 0.0), error))
            continue
        _, owner, fn, args = message
        try:
            fn(*args)
        except Exception as error:
            errors.setdefault(owner, _portable(error))
        seconds[owner] = seconds.get(owner, 0.0) + time.perf_counter() - started
