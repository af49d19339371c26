"""run_all's scheduler: the training task graph, the seeds' layout, Ray left behind by none of its runs, a
worker killed in the middle of a training, SIGTERM during a training and during a notebook. (The smoke profile
over two seeds on Ray, and its seed 1 against the single-process path: tests/test_smoke_pipeline.py.)

The runs use stand-in repositories (a temporary folder with the real notebooks, data and library linked in,
as tests/test_sigterm.py does), so their reports and caches stay apart from the repository's.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from processes import left_behind, marked_env

from advlab.course import records
from advlab.course.profiles import config
from advlab.course.registry import model_key
from advlab.runtime import cli, graph, scheduler

ROOT = Path(__file__).resolve().parents[1]
RUN = "import sys; from advlab.runtime.cli import main; sys.exit(main(sys.argv[2:], root=sys.argv[1]))"
SMOKE_01 = ["--profile", "smoke", "--only", "01", "--no-report"]


# --- the task graph and the layout (no Ray) ------------------------------------------------------------


def test_graph_orders_each_training_after_what_it_needs():
    cfg = config("smoke")
    tasks = graph.trainings(cfg, ["01_baseline", "03_adversarial_training"], [0])
    names = [t.name for t in tasks]
    assert names == ["baseline", "fgsm_set", "fgsm_retrained", "fgsm_untrained"]
    by_name = {t.name: t for t in tasks}
    assert by_name["fgsm_set"].needs == (by_name["baseline"].key,)
    assert set(by_name["fgsm_untrained"].needs) == {by_name["fgsm_set"].key, by_name["baseline"].key}
    seen = set()
    for t in tasks:  # each after the tasks it needs
        assert set(t.needs) <= seen
        seen.add(t.key)
    assert by_name["baseline"].key == model_key(cfg, "baseline")


def test_graph_of_the_whole_profile_over_two_seeds():
    cfg = config("smoke")
    tasks = graph.trainings(cfg, cli.NOTEBOOKS, [0, 1])
    for seed in (0, 1):
        names = {t.name for t in tasks if t.seed == seed}
        assert names == {
            "baseline",
            "fgsm_set",
            "pgd_set",
            "fgsm_retrained",
            "fgsm_untrained",
            "pgd_retrained",
            "pgd_untrained",
            "fast_adv",
            "fast_pgd_adv",
            "fast_pgd_adv_w2",  # the capacity widths of smoke: 1 (fast_pgd_adv itself) and 2
        }
    assert len({t.key for t in tasks}) == len(tasks) == 20
    assert {t.cfg.seed for t in tasks} == {0, 1}
    # the baseline again at each of baseline_seeds: one task per key, shared between the seeds
    spread = graph.trainings(cfg.replace(baseline_seeds=[0, 1, 2]), ["05_on_the_fly_adversarial_training"], [0, 1])
    baselines = [t for t in spread if t.name == "baseline"]
    assert sorted(t.cfg.seed for t in baselines) == [0, 1, 2]
    assert graph.trainings(cfg.replace(pretrained=True), cli.NOTEBOOKS, [0]) == []


def test_seeds_layout_and_environment(tmp_path):
    plan = cli.parse_args(["--profile", "smoke", "--only", "01", "--seeds", "3,1"])
    job = scheduler.make_job(plan, tmp_path)
    assert list(job.plans) == [3, 1]
    assert job.plans[3].overrides == {"seed": 3} and job.plans[3].cfg.seed == 3  # as --set seed=3 does
    assert job.folders[1] == tmp_path / "report" / "smoke" / "seeds" / "1"
    assert job.envs[1] == {
        records.REPORT_DIR_ENV: "report/smoke/seeds/1",
        records.FIGURES_DIR_ENV: "figures/smoke/seeds/1",
        records.SEEDS_ENV: "3,1",
    }
    assert job.needs[1] == [model_key(config("smoke", seed=1), "baseline")]
    one = scheduler.make_job(cli.parse_args(["--profile", "smoke", "--set", "seed=2"]), tmp_path)
    assert list(one.folders.items()) == [(2, tmp_path / "report" / "smoke")]  # one seed: today's layout
    assert one.envs[2] == {records.REPORT_DIR_ENV: None, records.FIGURES_DIR_ENV: None, records.SEEDS_ENV: None}
    local = scheduler.make_job(cli.parse_args(["--profile", "smoke", "--executor", "local"]), tmp_path)
    assert local.tasks == [] and local.needs == {0: []}  # the notebooks train what they need themselves


def test_the_first_seed_runs_chapter_5_after_every_other_seed(tmp_path):
    """Chapter 5 judges its conclusions in each seed of the run: the first seed's (the page's) runs last."""

    def order(*args):
        job = scheduler.make_job(cli.parse_args(["--profile", "smoke", *args]), tmp_path)
        return [
            (s.seed, s.notebooks[0][:2], s.notebooks[-1][:2], s.start, s.total, s.last) for s in scheduler.segments(job)
        ]

    assert order("--seeds", "2,0,1") == [
        (2, "01", "04", 1, 5, False),
        (0, "01", "05", 1, 5, False),
        (1, "01", "05", 1, 5, False),
        (2, "05", "05", 5, 5, True),
    ]
    assert order("--seeds", "0,1", "--only", "05") == [(1, "05", "05", 1, 1, False), (0, "05", "05", 1, 1, True)]
    assert order("--seeds", "0,1", "--only", "01,02") == [(0, "01", "02", 1, 2, False), (1, "01", "02", 1, 2, False)]
    assert order() == [(0, "01", "05", 1, 5, False)]  # one seed: one chain, as before


def test_records_honour_the_seed_folders(monkeypatch):
    cfg = config("smoke")
    assert records.report_dir(cfg) == Path("report/smoke") and records.figures_dir(cfg) == Path("figures/smoke")
    monkeypatch.setenv(records.REPORT_DIR_ENV, "report/smoke/seeds/4")
    monkeypatch.setenv(records.FIGURES_DIR_ENV, "figures/smoke/seeds/4")
    assert records.report_dir(cfg) == Path("report/smoke/seeds/4")
    assert records.figures_dir(cfg) == Path("figures/smoke/seeds/4")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seeds", "0,x"], ["--seeds 0,x", "integers >= 0"]),
        (["--seeds", "1,1"], ["listed twice"]),
        (["--seeds", "0,1", "--set", "seed=2"], ["--seeds and --set seed"]),
        (["--executor", "dask"], ["choose one of ray, local"]),
        (["--executor", "local", "--address", "auto"], ["--address", "--executor ray"]),
        (["--threads", "0"], ["--threads", ">= 1"]),
    ],
)
def test_bad_scale_options(args, words):
    with pytest.raises(cli.UsageError) as info:
        cli.parse_args(["--profile", "smoke", *args])
    for w in words:
        assert w in str(info.value)


def test_threads_fit_the_machine(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert scheduler.default_threads(2, 0) == 2  # never more than the CPUs
    assert scheduler.default_threads(16, 0) == 8  # torch's default: what one process uses
    assert scheduler.default_threads(16, 4) == 4  # the CPUs per GPU
    assert scheduler.default_threads(2, 4) == 1


def test_a_failure_reads_as_one_line():
    ray = pytest.importorskip("ray")
    errors = ray.exceptions
    reason = scheduler.failure_reason
    assert reason(ray, errors.WorkerCrashedError()) == "its worker process died twice (killed, or out of memory)"
    assert "out of memory" in reason(ray, errors.OutOfMemoryError("the node ran out"))
    assert reason(ray, ValueError("bad\n  value")) == "ValueError: bad value"
    task = graph.trainings(config("smoke"), ["01_baseline"], [3])[0]
    line = scheduler.training_failed(task, "cancelled")
    assert "\n" not in line and line.startswith("training baseline of seed 3 failed: cancelled;") and "rerun" in line


# --- real runs on Ray ---------------------------------------------------------------------------------


def stand_in_repo(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text("# stand-in: pipeline.chdir_root looks for this file\n")
    (folder / "lib").mkdir()
    for name in ("lib/advlab", "notebooks", "data"):
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    return folder


def start(root: Path, *args) -> subprocess.Popen:
    """run_all in ``root``, in a session of its own with a marker in its environment (``proc.env``), so that
    ``left_behind(proc.pid, proc.env)`` finds what it left (tests/processes.py)."""
    env = marked_env({k: v for k, v in os.environ.items() if k not in ("ADVLAB_ARTIFACTS", "RAY_ADDRESS")})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lib")] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, str(root), *args],
        cwd=root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    proc.env = env
    return proc


def finish(proc: subprocess.Popen, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for_pid(marker: Path, not_this: int | None, proc: subprocess.Popen, timeout=300) -> int:
    """The pid a training task wrote in ``artifacts/running/<key>.pid`` (other than ``not_this``)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            pid = int(marker.read_text().split()[1])
            if pid != not_this:
                return pid
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no training task wrote {marker.name} (run_all: {proc.poll()})")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_a_killed_worker_is_retried_once_then_reported_and_a_rerun_resumes(tmp_path):
    root = stand_in_repo(tmp_path / "repo")
    proc = start(root, *SMOKE_01, "--seeds", "0,1", "--threads", "1")
    marker = root / "artifacts" / graph.RUNNING / f"{model_key(config('smoke', seed=1), 'baseline')}.pid"
    first = wait_for_pid(marker, None, proc)
    time.sleep(2)  # in the middle of the training
    os.kill(first, signal.SIGKILL)
    second = wait_for_pid(marker, first, proc)  # the retry, in a new worker
    time.sleep(1)
    os.kill(second, signal.SIGKILL)
    code, out, err = finish(proc)
    assert code == 1, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("run_all: error: training")]
    assert lines == [
        "run_all: error: training baseline of seed 1 failed: its worker process died twice (killed, or out of "
        "memory); the models that finished are cached, and rerunning the same command resumes from them and "
        "from the last finished epoch"
    ], err[-3000:]
    assert "run_all: error: seed 1: its notebooks were not run (baseline (seed 1) failed)" in err
    assert (root / "report" / "smoke" / "seeds" / "0" / "01_baseline.ipynb").exists()  # seed 0 went on
    assert not (root / "report" / "smoke" / "seeds" / "1" / "01_baseline.ipynb").exists()
    assert not left_behind(proc.pid, proc.env), "a process outlived run_all"

    kept = root / "artifacts" / "models" / f"{model_key(config('smoke', seed=0), 'baseline')}.pt"
    stamp = kept.stat().st_mtime
    rerun = start(root, *SMOKE_01, "--seeds", "0,1", "--threads", "1")
    code, out, err = finish(rerun)
    assert code == 0, err[-3000:]
    assert not left_behind(rerun.pid, rerun.env), "a process outlived run_all"
    assert kept.stat().st_mtime == stamp  # seed 0's model came from the cache
    assert (root / "report" / "smoke" / "seeds" / "1" / "01_baseline.ipynb").exists()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigterm_during_a_training_stops_ray(tmp_path):
    root = stand_in_repo(tmp_path / "repo")
    proc = start(root, *SMOKE_01)
    wait_for_pid(root / "artifacts" / graph.RUNNING / f"{model_key(config('smoke'), 'baseline')}.pid", None, proc)
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc, timeout=120)
    assert code == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("run_all: interrupted (SIGTERM)")
    assert not left_behind(proc.pid, proc.env), "a process outlived run_all"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigterm_during_a_notebook_keeps_it_and_stops_its_kernel(tmp_path):
    root = stand_in_repo(tmp_path / "repo")
    (root / "pretrained").symlink_to(ROOT / "pretrained", target_is_directory=True)
    proc = start(root, "--profile", "smoke", "--only", "05", "--no-report", "--pretrained")
    running = root / "report" / "smoke" / ".05_on_the_fly_adversarial_training.running.ipynb"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not running.exists():
        time.sleep(0.2)
    time.sleep(3)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc, timeout=120)
    assert code == 143, err[-3000:]
    assert (root / "report" / "smoke" / "05_on_the_fly_adversarial_training.ipynb").exists()  # kept, partly run
    assert not running.exists()
    assert not left_behind(proc.pid, proc.env), "a process outlived run_all (a Ray process or the kernel)"


class FakeRay:
    """Enough of Ray's API for ``run_on_ray`` to plan its tasks: a cluster with ``resources``, every task recorded
    with its options, and finished at once."""

    __version__ = "fake"

    def __init__(self, resources):
        self.resources, self.options, self.calls, self.chains = resources, {}, [], []

    def cluster_resources(self):
        return self.resources

    def nodes(self):
        return [{"Alive": True}]

    def remote(self, fn):
        ray = self

        class Task:
            def options(self, **kw):
                ray.options[fn.__name__] = kw
                return self

            def remote(self, *args):
                ray.calls.append(fn.__name__)
                if fn.__name__ == "_chain_task":  # (seed, notebooks) of each chain, in the order submitted
                    ray.chains.append((args[0].cfg.seed, list(args[0].notebooks)))
                return (fn.__name__, len(ray.calls))

        return Task()

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return {"seconds": {}, "failure": None} if ref[0] == "_chain_task" else {"seconds": 1.0}


@pytest.mark.parametrize(
    "device, threads, gpus",
    [("auto", 4, 1), ("cpu", 8, 0)],  # the CPUs per GPU, one GPU per task; on --device cpu, no GPU asked for
)
def test_one_gpu_per_task_where_the_cluster_has_gpus(tmp_path, monkeypatch, device, threads, gpus):
    fake = FakeRay({"CPU": 16.0, "GPU": 4.0})
    monkeypatch.setattr(scheduler, "ray_session", lambda *a, **k: contextlib.nullcontext(fake))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    job = scheduler.make_job(cli.parse_args(["--profile", "smoke", "--only", "01,03", "--seeds", "0,1"]), tmp_path)
    outcome = scheduler.run_on_ray(job, tmp_path, None, {}, device)
    for task in ("train", "_chain_task"):
        assert fake.options[task]["num_gpus"] == gpus and fake.options[task]["num_cpus"] == threads
    assert fake.options["train"]["max_retries"] == 1 and fake.options["_chain_task"]["max_retries"] == 0
    assert fake.calls.count("train") == len(job.tasks) and fake.calls.count("_chain_task") == 2
    assert outcome.failures == [] and outcome.executor["gpus"] == 4 and outcome.executor["threads_per_task"] == threads


def test_on_ray_the_first_seeds_chapter_5_waits_for_every_other_seed(tmp_path, monkeypatch):
    fake = FakeRay({"CPU": 2.0})
    monkeypatch.setattr(scheduler, "ray_session", lambda *a, **k: contextlib.nullcontext(fake))
    plan = cli.parse_args(["--profile", "smoke", "--only", "01,05", "--seeds", "0,1,2"])
    outcome = scheduler.run_on_ray(scheduler.make_job(plan, tmp_path), tmp_path, None, {}, "cpu")
    late = "05_on_the_fly_adversarial_training"
    assert fake.chains[-1] == (0, [late]) and (0, ["01_baseline"]) in fake.chains
    assert sorted(fake.chains[:-1]) == [(0, ["01_baseline"]), (1, ["01_baseline", late]), (2, ["01_baseline", late])]
    assert outcome.failures == [] and set(outcome.chains) == {0, 1, 2}


def test_a_stop_waits_only_for_notebooks_that_are_running(tmp_path):
    """On Ctrl-C or SIGTERM the driver waits (up to its grace) while a notebook is still being written: only
    while a ``.<stem>.running.ipynb`` copy exists, not while a folder merely exists."""
    job = scheduler.make_job(cli.parse_args(["--profile", "smoke", "--seeds", "0,1"]), tmp_path)
    assert scheduler._running_notebooks(job) == []
    job.folders[1].mkdir(parents=True)
    (job.folders[1] / "01_baseline.ipynb").write_text("{}")
    assert scheduler._running_notebooks(job) == []
    running = job.folders[1] / ".02_fgsm_attack.running.ipynb"
    running.write_text("{}")
    assert scheduler._running_notebooks(job) == [running]
