"""The course challenge (advlab.course.challenge): a valid submission is scored and recorded; each bad one is
refused with a one-line error naming the problem and the fix (exit code 2), without loading it unsafely.

A tiny linear model stands in for the course's robust model (injected), so these tests take seconds."""

import json
import pickle

import numpy as np
import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.core.inference import evaluate
from advlab.course import artifacts, challenge, pipeline, robustness
from advlab.course.profiles import config


@pytest.fixture(scope="module")
def images(mnist_test):
    x, y = mnist_test
    return x.numpy(), y


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()


def _save(path, array):
    np.save(path, array)
    return path


def _run(argv, images, model, capsys):
    code = challenge.main(argv, model=model, images=images)
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_submission_is_scored_and_recorded(tmp_path, images, tiny_model, monkeypatch):
    x, y = images
    sign = np.sign(np.random.default_rng(0).standard_normal(x.shape)).astype(np.float32)
    x_adv = np.clip(x + 0.3 * sign, 0, 1)
    sub = _save(tmp_path / "noise.npy", x_adv.reshape(10000, 28, 28))
    monkeypatch.chdir(tmp_path)  # the leaderboard goes to report/<profile>/ under the working directory
    entry = challenge.submit(sub, name="alice", profile="smoke", model=tiny_model, model_name="tiny", images=images)
    assert entry["accuracy"] == pytest.approx(evaluate(tiny_model, torch.from_numpy(x_adv), y))
    board = json.loads((tmp_path / "report" / "smoke" / "leaderboard.json").read_text())
    assert [e["name"] for e in board["entries"]] == ["alice"] and board["entries"][0]["model"] == "tiny"
    # a stronger attack ranks first; the file is rewritten whole (atomic), never appended to in place
    clean = _save(tmp_path / "clean.npy", x.reshape(10000, 1, 28, 28))
    challenge.submit(clean, name="bob", profile="smoke", model=tiny_model, model_name="tiny", images=images)
    ranked = challenge.load_leaderboard("smoke")
    assert len(ranked) == 2 and ranked[0]["accuracy"] <= ranked[1]["accuracy"]
    assert not list((tmp_path / "report" / "smoke").glob("*.part"))


def test_cli_prints_accuracy_and_rank(tmp_path, images, tiny_model, capsys, monkeypatch):
    x, _ = images
    monkeypatch.chdir(tmp_path)
    sub = _save(tmp_path / "madry_format.npy", x.reshape(10000, 784).astype(np.float64))
    code, out, err = _run([str(sub), "--profile", "smoke", "--name", "carol"], images, tiny_model, capsys)
    assert code == 0, err
    assert "carol" in out and "%" in out and "rank 1 of 1" in out


def test_no_record_leaves_no_leaderboard(tmp_path, images, tiny_model, capsys, monkeypatch):
    x, _ = images
    monkeypatch.chdir(tmp_path)
    sub = _save(tmp_path / "a.npy", x)
    code, _, err = _run([str(sub), "--profile", "smoke", "--no-record"], images, tiny_model, capsys)
    assert code == 0, err
    assert not (tmp_path / "report").exists()


def _bad_cases(tmp_path, x):
    """(file, words the error must contain)"""
    cases = []
    cases.append((_save(tmp_path / "few.npy", x[:100]), ["shape (100, 1, 28, 28)", "10000"]))
    cases.append((_save(tmp_path / "uint8.npy", (x * 255).astype(np.uint8)), ["dtype uint8", "255"]))
    nan = x.copy()
    nan[3, 0, 5, 5] = np.nan
    cases.append((_save(tmp_path / "nan.npy", nan), ["NaN"]))
    inf = x.copy()
    inf[0, 0, 0, 0] = np.inf
    cases.append((_save(tmp_path / "inf.npy", inf), ["NaN or infinite"]))
    box = x.copy()
    box[7, 0, 0, 0] = -0.2  # within 0.3 of the original 0, but below the pixel range
    cases.append((_save(tmp_path / "box.npy", box), ["outside [0, 1]", "np.clip"]))
    ball = x.copy()
    ball[42] = np.clip(ball[42] + 0.5, 0, 1)
    cases.append((_save(tmp_path / "ball.npy", ball), ["eps-ball", "1 image(s)", "image 42"]))
    shuffled = x[::-1].copy()  # valid pixels, but not the test images in their standard order
    cases.append((_save(tmp_path / "order.npy", shuffled), ["eps-ball", "standard test order"]))
    npz = tmp_path / "arrays.npz"
    np.savez(npz, x=x)
    cases.append((npz, ["not a .npy file"]))
    text = tmp_path / "attack.npy"
    text.write_text("0.1 0.2 0.3\n")
    cases.append((text, ["not a .npy file"]))
    raw_pickle = tmp_path / "pickled.npy"
    raw_pickle.write_bytes(pickle.dumps(x[:2]))
    cases.append((raw_pickle, ["not a .npy file"]))
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "nan.npy").read_bytes()[:100000])
    cases.append((truncated, ["truncated"]))
    cases.append((tmp_path / "missing.npy", ["no such file"]))
    return cases


def test_bad_submissions_get_one_line_errors_and_exit_2(tmp_path, images, tiny_model, capsys, monkeypatch):
    x, _ = images
    monkeypatch.chdir(tmp_path)
    for path, words in _bad_cases(tmp_path, x):
        code, out, err = _run([str(path), "--profile", "smoke"], images, tiny_model, capsys)
        assert code == 2, (path.name, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (path.name, err)
        for w in words:
            assert w in lines[0], (path.name, w, lines[0])
    assert not (tmp_path / "report").exists(), "a refused submission is never recorded"


class _Boom:
    """Unpickling this writes a file: the proof that a submission was unpickled."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_object_arrays_are_refused_without_unpickling(tmp_path, images, tiny_model, capsys):
    _Boom.marker = tmp_path / "unpickled"
    evil = np.empty(10000, dtype=object)
    evil[:] = [_Boom() for _ in range(10000)]
    path = tmp_path / "evil.npy"
    np.save(path, evil, allow_pickle=True)
    code, _, err = _run([str(path)], images, tiny_model, capsys)
    assert code == 2 and "Python objects" in err and "never unpickled" in err
    assert not _Boom.marker.exists()
    with pytest.raises(AdvlabError, match="Python objects"):
        challenge.load_submission(path)


def test_tolerance_accepts_rounding_but_scores_inside_the_ball(tmp_path, images, tiny_model):
    x, y = images
    x_adv = np.clip(x + 0.3 + 5e-5, 0, 1 + 5e-5)  # float rounding just past eps and 1: accepted
    challenge.check_submission(x_adv, x)
    acc = challenge.score(x_adv, tiny_model, y)
    assert acc == pytest.approx(evaluate(tiny_model, torch.from_numpy(np.clip(x_adv, 0, 1)), y))


def test_default_model_is_the_most_robust_cached_on_the_fly_model(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ROOT", tmp_path)
    cfg = config("smoke")
    with pytest.raises(AdvlabError, match="no on-the-fly model"):
        challenge.default_model(cfg)
    names = list(pipeline.ON_THE_FLY)
    for n in names:  # every on-the-fly model "trained"
        p = artifacts.path(f"models/{pipeline.model_key(cfg, n)}", ".pt")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    assert challenge.default_model(cfg) == names[-1]  # no robust evaluation cached: the last listed
    weakest_last = {n: 0.9 - 0.1 * i for i, n in enumerate(names)}
    for n, acc in weakest_last.items():  # cached robust evaluations decide
        params = robustness._robust_params(cfg, n)
        artifacts.cached_json(
            f"robust/{artifacts.key('robust', params)}", params, lambda: {"robust_acc": weakest_last[n]}
        )
    assert challenge.default_model(cfg) == names[0]


def test_report_shows_the_leaderboard(tmp_path):
    from advlab.core.io import write_json
    from advlab.report import build as report

    entries = [
        {"name": "weak <attack>", "accuracy": 0.9, "model": "fast_adv", "date": "2026-01-02T00:00:00+00:00"},
        {"name": "strong", "accuracy": 0.12, "model": "fast_adv", "date": "2026-01-01T00:00:00+00:00"},
    ]
    write_json(challenge.leaderboard_path("board", tmp_path), {"profile": "board", "entries": entries})
    page = report.build_report("board", root=tmp_path, export=False).read_text()
    section = page[page.index("id='challenge'") :]
    assert section.index("strong") < section.index("weak &lt;attack&gt;"), "best attack first, names escaped"
    assert "12.0%" in section and "90.0%" in section
    results = json.loads((tmp_path / "report" / "board" / "results.json").read_text())
    assert [e["name"] for e in results["leaderboard"]] == ["strong", "weak <attack>"]
    empty = report.build_report("none", root=tmp_path, export=False).read_text()
    assert "No submission yet" in empty
