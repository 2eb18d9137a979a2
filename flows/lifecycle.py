"""The life of one `automl run` process: Prefect's temporary server started first thing, in the
background, so that its start-up overlaps the imports and the data checks; signals turned into an
orderly unwinding; and an exit that waits for Prefect's log and event drains, but not forever.

Nothing here imports Prefect at module level: `import prefect` alone costs seconds, and the server
is launched before it. Order of shutdown: the flow run ends (CRASHED on a signal), the drains send
what is left to the server, the process exits, and only then does the server's lifeline stop the
server. The server runs in its own session, so a Ctrl-C at a terminal (SIGINT to the whole
foreground group) cannot stop it before the flow run's last state and logs have reached it.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from automl.processes import lifeline

# What the temporary server needs for one run, and no more. Block types are registered by a
# server the user starts (`prefect server start` on the same home); memoizing is off too, or the
# skipped registration would be recorded as done and never run there. Automations' triggers do
# not serve a single run.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",  # as Prefect's own
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false", "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
}
# How long the drains (both together: drain_prefect) and then the exit may each wait: a run's last
# logs take well under 1 s on an idle machine; a stopped run must be gone within 10 s (a container
# stop's grace), so a stop waits at most 4 s for the drains and 4 s at the exit.
EXIT_WAIT_S = {"finished": 30.0, "stopped": 4.0}
# set to 1: `automl run` prints when each start-up phase ends (benchmarks/startup.py)
PHASES_ENV = "AUTOML_TRACE_PHASES"


def phase(name: str, at: float | None = None) -> None:
    """`automl: phase NAME AT` on stderr (AT: time.time(), or `at`) when AUTOML_TRACE_PHASES=1."""
    if os.environ.get(PHASES_ENV) == "1":
        print(f"automl: phase {name} {time.time() if at is None else at:.3f}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(port: int, lifelines: list) -> subprocess.Popen:
    """Prefect's temporary server (flows/temporary_server.py: a fresh home's database copied, then
    uvicorn serving Prefect's app as Prefect 3.8 runs it), in its own session, with a lifeline.
    `-P` and the package's own folder first: a `flows` or `prefect` folder in the working folder
    cannot shadow the modules this process imported."""
    root = str(Path(__file__).resolve().parents[1])
    script = f"import sys; sys.path.insert(0, {root!r}); from flows.temporary_server import main; main(sys.argv[1:])"
    command = [sys.executable, "-P", "-c", script, "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **SERVER_ENV}, start_new_session=True)
    lifelines.append(lifeline([process.pid]))  # a SIGKILL of this process ends the server too
    return process


class ServerDidNotStart(RuntimeError):
    """The temporary server did not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""


@dataclass
class TemporaryServer:
    """Prefect's temporary server, launched before Prefect is imported and handed to Prefect's
    client as its API URL (so the client neither imports the server's app, seconds of imports,
    nor starts one of its own). The database is PREFECT_HOME's, as for Prefect's own temporary
    server: `prefect server start` on the same home shows the run. Keep the object: its lifelines
    are pipes that end the server when this process exits."""

    port: int
    process: subprocess.Popen
    lifelines: list = field(default_factory=list)

    @classmethod
    def launch(cls) -> TemporaryServer | None:
        """Start it now, unless the environment names a server (PREFECT_API_URL): then none is needed."""
        if os.environ.get("PREFECT_API_URL"):
            return None
        port, lifelines = _free_port(), []
        return cls(port, _launch(port, lifelines), lifelines)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def stop(self) -> None:
        """End the server now (a check failed, or it did not start in time): nothing is left
        listening when `automl` returns."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def wait(self, timeout_s: float) -> None:
        """Until it answers /health (a new port if this one was taken: uvicorn exits with 3), or
        ServerDidNotStart after `timeout_s` (then it is stopped)."""
        import httpx

        print(f"Starting temporary server on http://127.0.0.1:{self.port} (Prefect's, for this run)", file=sys.stderr)
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            if self.process.poll() == 3:
                self.port = _free_port()
                self.process = _launch(self.port, self.lifelines)
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerDidNotStart(f"no answer from {self.api_url} within {timeout_s} s")

    def settings(self):
        """Prefect's settings for the flow run: this server's API; UI links where `prefect server
        start` shows the same database (this server has no UI and ends with the run). None when
        Prefect is configured with a server of its own (a profile): this one is stopped."""
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
            PREFECT_UI_URL,
            get_current_settings,
            temporary_settings,
        )

        if PREFECT_API_URL.value():
            self.stop()
            return None
        self.wait(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        api = get_current_settings().server.api
        return temporary_settings({PREFECT_API_URL: self.api_url, PREFECT_UI_URL: f"http://{api.host}:{api.port}"})


def _exit_on_sigterm(signum, frame):
    raise SystemExit(143)


def unwind_on_sigterm() -> None:
    """SIGTERM unwinds through Python (finally blocks, the runs ended KILLED) rather than killing
    the process on the spot. Inside a flow, Prefect first turns it into TerminationSignal (the
    flow run CRASHED), then hands the signal on to this handler."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def drain_prefect(timeout_s: float) -> None:
    """Send Prefect's queued logs and events now, for at most `timeout_s` in all (half each), while
    this run's server settings are in force (a worker started after them would look for another server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s / 2)


def _finish(join_threads: bool) -> None:
    """What threading._shutdown does, from this helper thread (_shutdown itself would wait for the
    main thread, which waits here): threading's exit hooks (Prefect's drains, thread pools joined),
    then the other non-daemon threads joined. Then atexit's hooks."""
    if join_threads:
        for hook in reversed(threading._threading_atexits):
            hook()
        for thread in threading.enumerate():
            if not thread.daemon and thread not in (threading.main_thread(), threading.current_thread()):
                thread.join()
    atexit._run_exitfuncs()


def exit_now(code: int) -> None:
    """What must run at exit runs, for at most EXIT_WAIT_S, then the process ends without Python's
    teardown of torch, Prefect and MLflow's modules (2–4 s on a 2-core machine, which the user would
    wait for). After a finished run: threading's exit hooks (Prefect's drains, the thread pools
    joined) and atexit's. After a stop, atexit's only: a thread pool's workers may still be inside a
    fit the signal interrupted (a forest's trees: minutes), and Prefect's drains ran in the flow's
    settings already (drain_prefect); a drain that cannot reach its server no longer holds the process."""
    finisher = threading.Thread(target=_finish, args=(code == 0,), name="automl-exit", daemon=True)
    finisher.start()
    wait_s = EXIT_WAIT_S["finished" if code == 0 else "stopped"]
    finisher.join(wait_s)
    if finisher.is_alive():
        waiting = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        print(f"automl: note: exiting after {wait_s:.0f} s without waiting longer for {', '.join(waiting) or 'atexit'}",
              file=sys.stderr)
    phase("exit")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
