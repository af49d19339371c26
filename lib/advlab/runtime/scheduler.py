"""Where a run's work runs: on Ray (``ray``, the default) or in this process, in order (``local``).

On Ray, every training of every seed (``advlab.runtime.graph``) is a task that asks for ``threads`` CPUs
(and one GPU where the cluster has one), submitted with the ObjectRefs of the tasks it needs, and
retried once if its worker dies (killed, out of memory); each seed's notebook chain is one more task,
submitted when that seed's trainings are done, which finds every model in the cache. ``local`` is the
single-process path: the notebooks in order, each training what it needs in its own kernel.

Without ``--address``, Ray is embedded: a local instance sized to this machine (``num_cpus`` = its
cores, no dashboard), with its session under a short temporary folder (Unix socket paths are limited
to about 100 characters), whose logs are copied to ``artifacts/ray/<session>/`` when it shuts down, at
the end, on an error, on Ctrl-C and on SIGTERM. With ``--address auto`` or ``ray://HOST:10001`` the run
joins that cluster and only disconnects from it at the end. The workers read and write the keyed
cache: a cluster's nodes must see the repository, ``data/`` and ``artifacts/`` at the same path (a
shared filesystem), because the notebooks read the models back from that cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import torch

from advlab.core.io import atomic_path
from advlab.course import artifacts
from advlab.course.records import FIGURES_DIR_ENV, REPORT_DIR_ENV
from advlab.runtime import graph
from advlab.runtime.notebooks import environment, run_chain

EXECUTORS = ("ray", "local")
KEEP_LOG_SESSIONS = 5


class SchedulerError(Exception):
    """Ray is missing or cannot start or be reached (a one-line message saying what to do)."""


@dataclasses.dataclass
class Outcome:
    """What a run did: ``failures`` one line each; ``chains`` {seed: run_chain's result}; ``executor`` for
    the report."""

    failures: list[str]
    chains: dict
    executor: dict


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(cpus: int, gpus: int) -> int:
    """Threads per task: what a single-process run uses here (torch's default), within the CPUs per GPU
    where there are GPUs, so that a single seed gives the same numbers as the local path."""
    per = cpus // gpus if gpus else cpus
    return max(1, min(torch.get_num_threads(), per))


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


def training_failed(task: graph.Training, reason: str) -> str:
    return (
        f"training {task.name} of seed {task.seed} failed: {reason}; the models that finished are cached, "
        f"and rerunning the same command resumes from them and from the last finished epoch"
    )


# --- running on Ray ----------------------------------------------------------------------------------


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _chain_task(plan, root, folder, env, force_since, tag, *after):
    """One seed's notebooks, as a Ray task (``after``: its trainings, already done). While it runs,
    ``artifacts/running/chain-<seed>.pid`` names its process, and SIGTERM interrupts it as Ctrl-C does
    (the notebook is kept, partly executed, and its kernel shut down): how the driver stops it."""
    os.chdir(root)
    marker = graph.pid_file(f"chain-{plan.cfg.seed}")
    with atomic_path(marker) as tmp:
        tmp.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    previous = None
    with contextlib.suppress(ValueError):  # signals can be handled in the main thread only
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_chain(plan, Path(root), Path(folder), env, force_since, tag, progress=False)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        marker.unlink(missing_ok=True)


def _stop_chains(root: Path, seeds) -> None:
    """SIGTERM to the chains running on this host (``_chain_task``'s markers)."""
    for seed in seeds:
        with contextlib.suppress(OSError, ValueError, IndexError):
            host, pid = (Path(root) / graph.pid_file(f"chain-{seed}")).read_text().split()[:2]
            if host == socket.gethostname():
                os.kill(int(pid), signal.SIGTERM)


@dataclasses.dataclass
class Job:
    """A run for the scheduler: per seed, its plan (``seed`` set), the folder of its executed notebooks and
    the environment of its kernels; the training tasks; threads per task."""

    plans: dict
    folders: dict
    envs: dict
    tasks: list
    needs: dict  # seed -> the keys of the trainings it needs
    force_since: float
    threads: int | None


class _Fanout:
    """The driver's side of a Ray run: submit, collect, report, cancel."""

    def __init__(self, ray, job: Job, root: Path, threads: int, gpu: int):
        self.ray, self.job, self.root = ray, job, root
        retry = [MemoryError, torch.cuda.OutOfMemoryError]
        self.train = ray.remote(graph.train).options(
            num_cpus=threads, num_gpus=gpu, max_retries=1, retry_exceptions=retry
        )
        self.chain = ray.remote(_chain_task).options(num_cpus=threads, num_gpus=gpu, max_retries=0)
        self.threads, self.pending, self.done, self.failed = threads, {}, set(), {}
        self.failures, self.chains, self.started = [], {}, set()

    def submit_trainings(self) -> None:
        refs = {}
        for task in self.job.tasks:
            after = [refs[k] for k in task.needs if k in refs]
            refs[task.key] = self.train.remote(task, str(self.root), self.threads, *after)
            self.pending[refs[task.key]] = ("train", task)
        self.start_ready_chains()

    def start_ready_chains(self) -> None:
        for seed, needs in self.job.needs.items():
            if seed in self.started:
                continue
            lost = [k for k in needs if k in self.failed]
            if lost:
                self.started.add(seed)
                self.failures.append(f"seed {seed}: its notebooks were not run ({self.failed[lost[0]]} failed)")
            elif all(k in self.done for k in needs):
                self.started.add(seed)
                plan, j = self.job.plans[seed], self.job
                env = {**j.envs[seed], "OMP_NUM_THREADS": self.threads}  # the kernels' torch threads
                args = (plan, str(self.root), str(j.folders[seed]), env, j.force_since, _tag(j, seed))
                self.pending[self.chain.remote(*args)] = ("chain", seed)

    def collect(self, ref) -> None:
        kind, item = self.pending.pop(ref)
        try:
            result = self.ray.get(ref)
        except Exception as exc:  # a task that failed: one line, unless it only inherited a failure
            if kind == "chain":
                self.chains[item] = {"seconds": {}, "failure": f"seed {item}: {failure_reason(self.ray, exc)}"}
            else:
                self.failed[item.key] = item.label()
                if not any(k in self.failed for k in item.needs):
                    self.failures.append(training_failed(item, failure_reason(self.ray, exc)))
            return
        if kind == "chain":
            self.chains[item] = result
            done = ", ".join(f"{nb} {s:.1f} s" for nb, s in result["seconds"].items()) or "none"
            print(f"{_tag(self.job, item)}notebooks done: {done}", flush=True)
        else:
            self.done.add(item.key)
            print(f"[train] {item.label()} ready ({result['seconds']:.1f} s)", flush=True)

    def wait(self) -> None:
        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0)
            for ref in ready:
                self.collect(ref)
                self.start_ready_chains()

    def cancel(self, grace: float = 20.0) -> None:
        """Ctrl-C or SIGTERM: cancel every task (a notebook's kernel is shut down, its notebook kept)."""
        refs = list(self.pending)
        _stop_chains(self.root, [item for kind, item in self.pending.values() if kind == "chain"])
        for ref in refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        deadline = time.monotonic() + grace
        with contextlib.suppress(Exception):
            self.ray.wait(refs, num_returns=len(refs), timeout=grace)
        # a cancelled ref is ready at once: the notebook is kept when its .running copy has been moved
        while time.monotonic() < deadline and any(f.glob(".*.running.ipynb") for f in self.job.folders.values()):
            time.sleep(0.2)


def make_job(plan, root: Path) -> Job:
    """The seeds' plans (``advlab.runtime.cli.Plan``), folders and kernel environments, and (on Ray) the
    training tasks."""
    seeds = plan.seeds if plan.seeds is not None else [plan.cfg.seed]
    base = root / "report" / plan.profile
    if plan.seeds is None:  # one seed: today's layout (and no folder variables left over from a shell)
        folders, envs = {seeds[0]: base}, {seeds[0]: {REPORT_DIR_ENV: None, FIGURES_DIR_ENV: None}}
    else:
        folders = {k: base / "seeds" / str(k) for k in seeds}
        envs = {
            k: {
                REPORT_DIR_ENV: f"report/{plan.profile}/seeds/{k}",
                FIGURES_DIR_ENV: f"figures/{plan.profile}/seeds/{k}",
            }
            for k in seeds
        }
    on_ray = plan.executor == "ray"
    tasks = graph.trainings(plan.cfg, plan.notebooks, seeds) if on_ray else []
    needs = {k: [t.key for t in graph.trainings(plan.cfg, plan.notebooks, [k])] if on_ray else [] for k in seeds}
    plans = {k: plan.for_seed(k) for k in seeds}
    return Job(plans, folders, envs, tasks, needs, time.time(), plan.threads)


def worker_environment(job: Job) -> dict:
    """What every worker and kernel gets: no progress bars, --force's start, the cache's folder."""
    env = {"ADVLAB_PROGRESS": "0", "ADVLAB_FORCE_SINCE": repr(job.force_since), "RAY_USAGE_STATS_ENABLED": "0"}
    if os.environ.get("ADVLAB_ARTIFACTS"):
        env["ADVLAB_ARTIFACTS"] = str(Path(os.environ["ADVLAB_ARTIFACTS"]).resolve())
    return env


def _tag(job: Job, seed: int) -> str:
    return f"[seed {seed}] " if len(job.plans) > 1 else ""


def run_on_ray(job: Job, root: Path, address: str | None, env: dict, device: str) -> Outcome:
    """Every training, then each seed's notebooks, on Ray. Raises SchedulerError or KeyboardInterrupt."""
    with environment(env), ray_session(address, root, env) as ray:
        res = ray.cluster_resources()
        gpus = int(res.get("GPU", 0)) if device != "cpu" else 0
        threads = job.threads or default_threads(int(res.get("CPU", 1)), gpus)
        executor = describe_ray(ray, address, threads)
        print(
            f"run_all: Ray {ray.__version__} ({executor['address']}): {executor['cpus']} CPU(s), {gpus} GPU(s), "
            f"{threads} thread(s) per task, {len(job.tasks)} training task(s), {len(job.plans)} notebook chain(s)",
            flush=True,
        )
        fan = _Fanout(ray, job, root, threads, 1 if gpus else 0)
        try:
            fan.submit_trainings()
            fan.wait()
        except KeyboardInterrupt:
            fan.cancel()
            raise
        return Outcome(fan.failures, fan.chains, executor)


def run_here(job: Job, root: Path, env: dict) -> Outcome:
    """The single-process path: each seed's notebooks in order, each training what it needs itself."""
    chains = {}
    threads = {"OMP_NUM_THREADS": job.threads} if job.threads else {}
    with environment({**env, **threads}):
        for seed, plan in job.plans.items():
            chains[seed] = run_chain(plan, root, job.folders[seed], job.envs[seed], job.force_since, _tag(job, seed))
    executor = {"name": "local", "version": None, "address": None, "workers": 1}
    executor["threads_per_task"] = job.threads or torch.get_num_threads()
    return Outcome([], chains, executor)
