"""The headless execution stall: explorers open no widget comm when run_all runs them, and
advlab.runtime.engine's watchdog notices an idle kernel with a cell pending (on a fake kernel: no real one)."""

import asyncio
import itertools
from queue import Empty
from types import SimpleNamespace

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")

import comm  # noqa: E402
from ipywidgets.widgets import widget as ipywidget  # noqa: E402

from advlab.course import widgets  # noqa: E402
from advlab.runtime import engine, notebooks


def _view(cfg, model, attack, eps, threat, n):
    import matplotlib.pyplot as plt

    plt.figure()
    plt.title(f"eps {eps:.2f}")


@pytest.fixture
def comms(monkeypatch):
    """Every comm opened (ipywidgets opens one per widget through comm.create_comm)."""
    opened = []
    create = comm.create_comm

    def counting(*args, **kwargs):
        opened.append(kwargs.get("target_name"))
        return create(*args, **kwargs)

    monkeypatch.setattr(comm, "create_comm", counting)
    return opened


def test_headless_explorer_opens_no_comm(monkeypatch, comms, capsys):
    monkeypatch.setenv("ADVLAB_HEADLESS", "1")
    before = set(ipywidget._instances)
    assert widgets.explore(None, eps=0.3, view=_view) is None
    assert comms == [] and set(ipywidget._instances) == before
    assert capsys.readouterr().out.strip() == widgets.STATIC_NOTE


def test_explorer_with_a_front_end_opens_its_widgets(monkeypatch, comms):
    """The control for the test above: the same call in JupyterLab's situation does open comms."""
    monkeypatch.delenv("ADVLAB_HEADLESS", raising=False)
    widgets.explore(None, eps=0.3, view=_view)
    assert comms.count("jupyter.widget") >= 5  # 3 menus, a slider, the output, the box


def test_run_all_kernels_are_headless(tmp_path):
    """Through the runner (a real kernel): the explorer cell prints the note and displays no widget."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nfrom advlab.course import widgets\nprint(os.environ['ADVLAB_HEADLESS'])"),
        nbformat.v4.new_code_cell("widgets.explore(None, eps=0.3, view=lambda *a: None)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "07_explore.ipynb", tmp_path / "out" / "07_explore.ipynb"
    nbformat.write(nb, src)
    with notebooks.this_python_kernel() as kernel:
        notebooks.run_notebook(src, out, {}, kernel, tmp_path)
    cells = nbformat.read(out, as_version=4).cells
    assert [o["text"] for o in cells[0].outputs] == ["1\n"]
    assert [o["text"].strip() for o in cells[1].outputs] == [widgets.STATIC_NOTE]
    assert "widget" not in str(cells[1].outputs)


DROP_REPLIES = """
kernel = get_ipython().kernel
send = kernel.session.send
def drop_execute_replies(stream, msg_or_type, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"]
    return send(None if kind == "execute_reply" else stream, msg_or_type, *args, **kwargs)  # None: not sent
kernel.session.send = drop_execute_replies
"""


def test_runner_reruns_a_stalled_notebook_once_then_fails_in_seconds(tmp_path, monkeypatch, capsys):
    """A real kernel that runs the cell but loses its reply: the watchdog stops waiting within
    seconds (not the cell timeout), the runner says so and reruns the notebook once, then gives up."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(DROP_REPLIES)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "07_lost.ipynb", tmp_path / "out" / "07_lost.ipynb"
    nbformat.write(nb, src)
    monkeypatch.setenv("ADVLAB_STALL_SECONDS", "1")
    monkeypatch.setenv("ADVLAB_CELL_TIMEOUT", "300")
    with notebooks.this_python_kernel() as kernel:
        with pytest.raises(notebooks.NotebookFailed, match="07_lost: the kernel stalled twice .*reply has not arrived"):
            notebooks.run_notebook(src, out, {}, kernel, tmp_path)
    printed = capsys.readouterr().out
    wakes = [ln for ln in printed.splitlines() if ln.endswith("waking the kernel channel")]
    assert len(wakes) == 2 and all(ln.startswith("07_lost cell [1]: the kernel finished the cell") for ln in wakes)
    assert "07_lost: the kernel stalled (" in printed and "running the notebook again" in printed


# --- the watchdog, on a fake kernel ---------------------------------------------------------------


def test_stall_reason():
    assert engine.stall_reason({"sent": 0, "busy": None, "idle": None}, 2, 5) is None  # just sent
    assert "not started" in engine.stall_reason({"sent": 0, "busy": None, "idle": None}, 6, 5)
    assert engine.stall_reason({"sent": 0, "busy": 1, "idle": None}, 600, 5) is None  # a long cell
    assert engine.stall_reason({"sent": 0, "busy": 1, "idle": 2}, 6, 5) is None
    assert "reply has not arrived" in engine.stall_reason({"sent": 0, "busy": 1, "idle": 2}, 8, 5)


class FakeSocket:
    def __init__(self, on_wake):
        self.woken, self.on_wake = 0, on_wake

    def get(self, option):
        self.woken += 1
        self.on_wake()


class FakeKernel:
    """A kernel client whose kernel runs each cell (busy, idle on iopub) but whose reply never comes
    out of the shell socket, unless ``wake_delivers``: then waking the socket delivers it, as it did
    for the real stall."""

    def __init__(self, started=True, wake_delivers=False):
        self.started, self.wake_delivers = started, wake_delivers
        self.ids = (f"req{i}" for i in itertools.count())
        self.iopub, self.replies = asyncio.Queue(), asyncio.Queue()
        self.msg_id = None
        self.shell_channel = SimpleNamespace(
            get_msg=self._shell_msg, send=lambda msg: None, socket=FakeSocket(self._woken)
        )
        self.iopub_channel = SimpleNamespace(get_msg=self._iopub_msg)

    def _msg(self, msg_type, content):
        return {
            "msg_type": msg_type,
            "header": {"msg_type": msg_type},
            "content": content,
            "parent_header": {"msg_id": self.msg_id},
            "metadata": {},
        }

    def execute(self, code, **kwargs):
        self.msg_id = next(self.ids)
        if self.started:
            for state in ("busy", "idle"):
                self.iopub.put_nowait(self._msg("status", {"execution_state": state}))
        return self.msg_id

    def _woken(self):
        if self.wake_delivers:
            self.replies.put_nowait(self._msg("execute_reply", {"status": "ok", "execution_count": 1}))

    async def _shell_msg(self, timeout=None):
        try:
            return await asyncio.wait_for(self.replies.get(), timeout)
        except asyncio.TimeoutError:
            raise Empty from None

    async def _iopub_msg(self, timeout=None):
        return await asyncio.wait_for(self.iopub.get(), timeout)

    async def is_alive(self):
        return True


def _fake_client(kernel, stall_seconds=0.2):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb_man = SimpleNamespace(nb=nb, autosave_cell=lambda: None)
    seen = []
    client = engine.WatchdogClient(
        nb_man, timeout=60, stall_seconds=stall_seconds, label="07_fake", on_stall=seen.append
    )
    client.kc = kernel
    return client, nb.cells[0], seen


@pytest.mark.parametrize("started, words", [(True, "reply has not arrived"), (False, "not started")])
def test_watchdog_gives_up_on_an_idle_kernel_in_seconds(started, words):
    kernel = FakeKernel(started=started)
    client, cell, seen = _fake_client(kernel)
    with pytest.raises(engine.KernelStalled, match=words):
        asyncio.run(asyncio.wait_for(client.async_execute_cell(cell, 0), 10))  # not the 60 s timeout
    assert len(seen) == 1 and seen[0].startswith("07_fake cell [") and "waking" in seen[0]
    assert kernel.shell_channel.socket.woken >= 1


def test_watchdog_wakes_a_reply_stuck_in_the_socket():
    kernel = FakeKernel(wake_delivers=True)
    client, cell, seen = _fake_client(kernel)
    asyncio.run(asyncio.wait_for(client.async_execute_cell(cell, 0), 10))
    assert len(seen) == 1 and "reply has not arrived" in seen[0]


def test_a_long_busy_cell_is_not_a_stall():
    kernel = FakeKernel(started=False, wake_delivers=False)
    client, cell, seen = _fake_client(kernel)

    async def busy_then_reply():
        task = asyncio.ensure_future(client.async_execute_cell(cell, 0))
        await asyncio.sleep(0.05)
        kernel.iopub.put_nowait(kernel._msg("status", {"execution_state": "busy"}))
        await asyncio.sleep(1.0)  # five times stall_seconds, busy all along
        kernel.iopub.put_nowait(kernel._msg("status", {"execution_state": "idle"}))
        kernel.replies.put_nowait(kernel._msg("execute_reply", {"status": "ok", "execution_count": 1}))
        await asyncio.wait_for(task, 10)

    asyncio.run(busy_then_reply())
    assert seen == []


def test_rearm_wakes_the_socket_after_each_send():
    sent = []
    socket = FakeSocket(lambda: sent.append("woken"))
    channel = SimpleNamespace(send=lambda msg: sent.append(msg["msg_type"]), socket=socket)
    engine.rearm_after_send(channel)
    channel.send({"msg_type": "comm_msg"})
    assert sent == ["comm_msg", "woken"]
