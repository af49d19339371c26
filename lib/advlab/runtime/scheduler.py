"""Where a run's work runs: on Ray (``ray``, the default) or in this process, in order (``local``).

On Ray, every training of every seed (``advlab.runtime.graph``) is a task that asks for ``threads`` CPUs
(and one GPU where the cluster has one), submitted with the ObjectRefs of the tasks it needs, and
retried once if its worker dies (killed, out of memory); each seed's notebook chain is one more task,
submitted when that seed's trainings are done, which finds every model in the cache. ``local`` is the
single-process path: the notebooks in order, each training what it needs in its own kernel.

Over several seeds, the first seed (the one the report shows) runs chapter 5 last, after every other
seed's notebooks (:func:`segments`): that chapter judges its conclusions in each seed of the run, so it
needs the others' results. Its other chapters run as soon as its trainings are done.

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
import os
import signal
import socket
import time
from pathlib import Path

import torch

from advlab.core.io import atomic_path
from advlab.course.records import FIGURES_DIR_ENV, REPORT_DIR_ENV, SEEDS_ENV
from advlab.runtime import graph
from advlab.runtime.notebooks import environment, merge_timings, run_chain
from advlab.runtime.ray_session import describe_ray, failure_reason, ray_session

EXECUTORS = ("ray", "local")
LATE = "05_on_the_fly_adversarial_training"  # over several seeds, judged in each: the first seed runs it last
TRAININGS_FILE = "trainings.json"  # per seed folder, on Ray: {training: seconds}


@dataclasses.dataclass
class Outcome:
    """What a run did: ``failures`` one line each; ``chains`` {seed: run_chain's result}; ``executor`` for
    the report."""

    failures: list[str]
    chains: dict
    executor: dict


def default_threads(cpus: int, gpus: int) -> int:
    """Threads per task: what a single-process run uses here (torch's default), within the CPUs per GPU
    where there are GPUs, so that a single seed gives the same numbers as the local path."""
    per = cpus // gpus if gpus else cpus
    return max(1, min(torch.get_num_threads(), per))


def training_failed(task: graph.Training, reason: str) -> str:
    return (
        f"training {task.name} of seed {task.seed} failed: {reason}; the models that finished are cached, "
        f"and rerunning the same command resumes from them and from the last finished epoch"
    )


# --- running on Ray ----------------------------------------------------------------------------------


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _chain_task(plan, root, folder, env, force_since, tag, numbers, *after):
    """One seed's notebooks (a :class:`Segment` of them), as a Ray task (``after``: what it waits for, already
    done). While it runs,
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
        return run_chain(plan, Path(root), Path(folder), env, force_since, tag, progress=False, numbers=numbers)
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


@dataclasses.dataclass(frozen=True)
class Segment:
    """Notebooks of one seed run in one go (one chain task on Ray): ``notebooks``, numbered from ``start`` of
    ``total`` in that seed's chain; ``last``: only after every other segment has ended."""

    seed: int
    notebooks: tuple[str, ...]
    start: int
    total: int
    last: bool = False

    def plan(self, job: Job):
        return dataclasses.replace(job.plans[self.seed], notebooks=list(self.notebooks))


def segments(job: Job) -> list[Segment]:
    """Each seed's notebooks, in the order they run here; over several seeds the first seed's chapter 5 is a
    segment of its own, last (it judges its conclusions in every seed of the run)."""
    seeds = list(job.plans)
    out, tail = [], []
    for seed in seeds:
        nbs = list(job.plans[seed].notebooks)
        if seed == seeds[0] and len(seeds) > 1 and nbs and nbs[-1] == LATE:
            if nbs[:-1]:
                out.append(Segment(seed, tuple(nbs[:-1]), 1, len(nbs)))
            tail = [Segment(seed, (LATE,), len(nbs), len(nbs), last=True)]
        elif nbs:
            out.append(Segment(seed, tuple(nbs), 1, len(nbs)))
    return out + tail


def _merge(chains: dict, seed: int, result: dict) -> None:
    """A segment's result into its seed's ``{"seconds", "failure"}`` (the first failure kept)."""
    chain = chains.setdefault(seed, {"seconds": {}, "failure": None})
    chain["seconds"].update(result.get("seconds") or {})
    chain["failure"] = chain["failure"] or result.get("failure")


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
        self.failures, self.chains = [], {}
        self.segments = segments(job)
        self.state = {seg: None for seg in self.segments}  # None, "running", "ok", "failed" or "skipped"

    def submit_trainings(self) -> None:
        refs = {}
        for task in self.job.tasks:
            after = [refs[k] for k in task.needs if k in refs]
            refs[task.key] = self.train.remote(task, str(self.root), self.threads, *after)
            self.pending[refs[task.key]] = ("train", task)
        self.start_ready_chains()

    def start_ready_chains(self) -> None:
        for seg in self.segments:
            if self.state[seg] is None and self._ready(seg):
                self._start(seg)

    def _ready(self, seg: Segment) -> bool:
        """Whether ``seg`` can start now (or be skipped, which :meth:`_start` decides)."""
        if any(k in self.failed for k in self.job.needs[seg.seed]):
            return True
        if not all(k in self.done for k in self.job.needs[seg.seed]):
            return False
        return not seg.last or all(self.state[o] not in (None, "running") for o in self.segments if o is not seg)

    def _start(self, seg: Segment) -> None:
        lost = [k for k in self.job.needs[seg.seed] if k in self.failed]
        earlier = [o for o in self.segments if o.seed == seg.seed and o.start < seg.start]
        if lost or any(self.state[o] != "ok" for o in earlier):
            self.state[seg] = "skipped"
            if lost and not earlier:  # one line per seed
                self.failures.append(f"seed {seg.seed}: its notebooks were not run ({self.failed[lost[0]]} failed)")
            return
        j = self.job
        env = {**j.envs[seg.seed], "OMP_NUM_THREADS": self.threads}  # the kernels' torch threads
        numbers = (seg.start, seg.total)
        args = (seg.plan(j), str(self.root), str(j.folders[seg.seed]), env, j.force_since, _tag(j, seg.seed), numbers)
        self.pending[self.chain.remote(*args)] = ("chain", seg)
        self.state[seg] = "running"

    def collect(self, ref) -> None:
        kind, item = self.pending.pop(ref)
        try:
            result = self.ray.get(ref)
        except Exception as exc:  # a task that failed: one line, unless it only inherited a failure
            if kind == "chain":
                self.state[item] = "failed"
                _merge(self.chains, item.seed, {"failure": f"seed {item.seed}: {failure_reason(self.ray, exc)}"})
            else:
                self.failed[item.key] = item.label()
                if not any(k in self.failed for k in item.needs):
                    self.failures.append(training_failed(item, failure_reason(self.ray, exc)))
            return
        if kind == "chain":
            self.state[item] = "failed" if result.get("failure") else "ok"
            _merge(self.chains, item.seed, result)
            done = ", ".join(f"{nb} {s:.1f} s" for nb, s in result["seconds"].items()) or "none"
            print(f"{_tag(self.job, item.seed)}notebooks done: {done}", flush=True)
        else:
            self.done.add(item.key)
            self.record_training(item, result["seconds"])
            print(f"[train] {item.label()} ready ({result['seconds']:.1f} s)", flush=True)

    def record_training(self, task: graph.Training, seconds: float) -> None:
        """The training's seconds in its seed's ``trainings.json`` (the notebooks' own times leave it out)."""
        folder = self.job.folders.get(task.seed)
        if folder is None:
            return
        name = task.name if task.cfg.seed == task.seed else f"{task.name} (training seed {task.cfg.seed})"
        with contextlib.suppress(OSError):
            merge_timings(folder / TRAININGS_FILE, name, seconds)

    def wait(self) -> None:
        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0)
            for ref in ready:
                self.collect(ref)
                self.start_ready_chains()

    def cancel(self, grace: float = 20.0) -> None:
        """Ctrl-C or SIGTERM: cancel every task (a notebook's kernel is shut down, its notebook kept)."""
        refs = list(self.pending)
        _stop_chains(self.root, [item.seed for kind, item in self.pending.values() if kind == "chain"])
        for ref in refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        deadline = time.monotonic() + grace
        with contextlib.suppress(Exception):
            self.ray.wait(refs, num_returns=len(refs), timeout=grace)
        # a cancelled ref is ready at once: the notebook is kept when its .running copy has been moved
        while time.monotonic() < deadline and _running_notebooks(self.job):
            time.sleep(0.2)


def _running_notebooks(job: Job) -> list[Path]:
    """The notebooks being executed now (papermill's ``.<stem>.running.ipynb`` copies) in the job's folders."""
    return [p for f in job.folders.values() for p in f.glob(".*.running.ipynb")]


def make_job(plan, root: Path) -> Job:
    """The seeds' plans (``advlab.runtime.cli.Plan``), folders and kernel environments, and (on Ray) the
    training tasks."""
    seeds = plan.seeds if plan.seeds is not None else [plan.cfg.seed]
    base = root / "report" / plan.profile
    if plan.seeds is None:  # one seed: today's layout (and no folder variables left over from a shell)
        folders, envs = {seeds[0]: base}, {seeds[0]: {REPORT_DIR_ENV: None, FIGURES_DIR_ENV: None, SEEDS_ENV: None}}
    else:
        folders = {k: base / "seeds" / str(k) for k in seeds}
        envs = {
            k: {
                REPORT_DIR_ENV: f"report/{plan.profile}/seeds/{k}",
                FIGURES_DIR_ENV: f"figures/{plan.profile}/seeds/{k}",
                SEEDS_ENV: ",".join(map(str, seeds)),
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
    env["RAY_DEDUP_LOGS"] = "0"  # every seed's progress lines, not "[repeated 2x across cluster]"
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
    chains, failed = {}, set()
    threads = {"OMP_NUM_THREADS": job.threads} if job.threads else {}
    with environment({**env, **threads}):
        for seg in segments(job):
            if seg.seed in failed:
                continue
            result = run_chain(
                seg.plan(job),
                root,
                job.folders[seg.seed],
                job.envs[seg.seed],
                job.force_since,
                _tag(job, seg.seed),
                numbers=(seg.start, seg.total),
            )
            _merge(chains, seg.seed, result)
            if result["failure"]:
                failed.add(seg.seed)
    executor = {"name": "local", "version": None, "address": None, "workers": 1}
    executor["threads_per_task"] = job.threads or torch.get_num_threads()
    return Outcome([], chains, executor)
