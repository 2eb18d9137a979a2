"""Which process owns a run, whether it still lives, and a lifeline that ends helper processes
when their parent dies, even by SIGKILL.

A run is tagged with its process's identity, `host:pid:start` (start: the kernel's start time of
the process, so a pid reused by another process never passes for the run's). A later start on
the same host tells a dead run from a live one; another host's run cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

_LIFELINE = """
import os, signal, sys, time
pids = [int(p) for p in sys.argv[1:]]
sys.stdin.buffer.read()  # returns when the parent's end of the pipe closes: it has exited


def signal_all(number):
    for pid in pids:
        try:
            os.kill(pid, number)
        except OSError:
            pass


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


signal_all(signal.SIGTERM)
for _ in range(50):
    if not any(running(pid) for pid in pids):
        sys.exit(0)
    time.sleep(0.1)
signal_all(signal.SIGKILL)
"""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), '' where /proc is absent, None if
    there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of stat; the first two (pid, comm) are cut off
    except FileNotFoundError:
        return None if os.path.isdir("/proc") else ""
    except (OSError, IndexError):
        return ""


def started_at(pid: int | None = None) -> float | None:
    """When the process started, in time.time() seconds (Linux; None elsewhere). Not the budget's
    origin: an `exec` keeps the process, so a wrapper's work before it would count."""
    ticks = _start_time(pid or os.getpid())
    try:
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return time.time() - (up - int(ticks) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, TypeError):
        return None


def this_process() -> str:
    """This process's identity: 'host:pid:start'."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def alive(identity: str) -> bool | None:
    """Whether the process named by `identity` still runs: None when it ran on another host (or
    the identity is unreadable), since that cannot be checked from here."""
    try:
        host, pid, start = identity.rsplit(":", 2)
        pid_number = int(pid)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    now = _start_time(pid_number)
    if now is None:
        return False
    if start and now and start != now:  # the pid now belongs to another process
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lifeline(pids: list[int]) -> subprocess.Popen:
    """A small process that waits for this one to exit (its stdin closes) and then ends `pids`
    (SIGTERM, SIGKILL 5 s later). Keep the returned handle: its pipe is the line."""
    return subprocess.Popen([sys.executable, "-c", _LIFELINE, *map(str, pids)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
