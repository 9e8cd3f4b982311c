"""What the benchmark ran on, and what a process costs, read from /proc (Linux)."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("pledgewatch", "apscheduler", "sqlalchemy", "httpx", "uvicorn", "psycopg")
_TICKS = os.sysconf("SC_CLK_TCK")


def describe() -> dict[str, object]:
    """Return the machine, the Python and the versions of the packages that matter here."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _memory_mb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": _commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str | None:
    """Return the checked-out commit of this tree, when it is a git work tree."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time `pid` has used (its own threads, not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def tree(pid: int) -> list[int]:
    """Return `pid` and its descendants (the daemon and its posting process)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        for child in children:
            found += tree(int(child))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU time `pid` and its descendants have used, each its own threads."""
    return sum(cpu_seconds(each) for each in tree(pid))


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Return the resident sets of `pid` and its descendants, added up, now and at their peaks."""
    each = [memory_mb(one) for one in tree(pid)]
    return {key: sum(found[key] for found in each) for key in ("rss", "peak")}


def memory_mb(pid: int) -> dict[str, float]:
    """Return the resident set now (`rss`) and its peak (`peak`), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            found["rss"] = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            found["peak"] = int(line.split()[1]) / 1024
    return found


def terminate(process: subprocess.Popen[str], timeout: float = 20) -> int | None:
    """SIGTERM `process`, wait (bounded), then SIGKILL; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=timeout)
