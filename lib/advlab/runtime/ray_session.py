"""Ray itself, for ``advlab.runtime.scheduler``: an embedded instance sized to this machine (no dashboard, its
session under a short temporary folder, since Unix socket paths are limited to about 100 characters, its logs
copied to ``artifacts/ray/<session>/`` when it stops) or a cluster joined with ``--address``; what the run
ran on, for the report; and why a task failed, in words."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from advlab.course import artifacts

KEEP_LOG_SESSIONS = 5


class SchedulerError(Exception):
    """Ray is missing or cannot start or be reached (a one-line message saying what to do)."""


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise SchedulerError(f"Ray is not installed ({exc}): run `make venv`, or use --executor local") from None
    return ray


# --- the Ray session --------------------------------------------------------------------------------


def _log_folder(root: Path) -> Path:
    base = artifacts.ROOT if artifacts.ROOT.is_absolute() else root / artifacts.ROOT
    return base / "ray"


def _keep_logs(tmp: Path, root: Path) -> None:
    """Copy the session's logs to ``artifacts/ray/<session>/`` and keep the last few sessions."""
    session = (tmp / "session_latest").resolve()
    if not (session / "logs").is_dir():
        return
    folder = _log_folder(root)
    shutil.copytree(session / "logs", folder / session.name, dirs_exist_ok=True, ignore_dangling_symlinks=True)
    for old in sorted(p for p in folder.glob("session_*") if p.is_dir())[:-KEEP_LOG_SESSIONS]:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def ray_session(address: str | None, root: Path, env: dict):
    """Ray, embedded (``address`` None) or joined; yields the ``ray`` module. ``env`` reaches every worker."""
    ray = _import_ray()
    sigterm = signal.getsignal(signal.SIGTERM)
    tmp = None
    kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    try:
        if address:
            ray.init(address=address, runtime_env={"env_vars": {k: str(v) for k, v in env.items()}}, **kwargs)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="advlab-ray-", dir="/tmp" if Path("/tmp").is_dir() else None))
            ray.init(
                address="local",
                num_cpus=machine_cores(),
                _temp_dir=str(tmp),
                object_store_memory=128 * 1024**2,  # the tasks pass no tensors, only small dicts
                **kwargs,
            )
    except Exception as exc:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise SchedulerError(
            f"could not start or join {where} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            f"check --address, or use --executor local"
        ) from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sigterm)  # ray.init installs its own handler: keep run_all's
    try:
        yield ray
    finally:
        ray.shutdown()  # an embedded instance: its processes stop; a cluster: this driver disconnects
        if tmp:
            with contextlib.suppress(OSError):
                _keep_logs(tmp, root)
            shutil.rmtree(tmp, ignore_errors=True)


def describe_ray(ray, address: str | None, threads: int) -> dict:
    res = ray.cluster_resources()
    cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
    slots = max(1, cpus // threads) if not gpus else max(1, min(gpus, cpus // threads))
    return {
        "name": "ray",
        "version": ray.__version__,
        "address": address or "embedded (local instance)",
        "workers": slots,
        "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
        "cpus": cpus,
        "gpus": gpus,
        "threads_per_task": threads,
    }


# --- failures in one line -----------------------------------------------------------------------------


def failure_reason(ray, exc: BaseException) -> str:
    """Why a task failed, in words (a worker that died twice, a Python error, a cancellation)."""
    errors = ray.exceptions
    if isinstance(exc, errors.OutOfMemoryError):
        return "Ray's memory monitor stopped its worker twice (out of memory)"
    if isinstance(exc, (errors.WorkerCrashedError, errors.NodeDiedError, errors.LocalRayletDiedError)):
        return "its worker process died twice (killed, or out of memory)"
    if isinstance(exc, errors.TaskCancelledError):
        return "cancelled"
    if isinstance(exc, errors.RayTaskError) and exc.cause is not None:
        cause = exc.cause
        return f"{type(cause).__name__}: {' '.join(str(cause).split())[:300]}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
