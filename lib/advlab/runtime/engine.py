"""The papermill engine ``run_all.py`` executes notebooks with: papermill's own client plus a fix and a
watchdog for the headless execution stall.

The stall: while nbclient waits for a cell's reply on the shell channel (an asyncio poll on the
socket), its stand-in for an ipywidgets Output widget answers the kernel's output messages with a
``comm_msg`` on that same channel. jupyter_client sends it raw, on a shadow of the asyncio socket; a
raw send lets libzmq consume the socket's edge-triggered wake-up, so a reply that arrived meanwhile
sat unread, with the kernel idle, until the poll's timeout (the per-cell timeout).

- ``rearm``: after every message the client sends on the shell channel, it asks the asyncio socket
  for its events, which makes it re-check for a message already waiting (closes the race above).
- the watchdog: if the kernel is idle while a cell's request is pending (it finished the cell but the
  reply has not come, or it never started it) for ``stall_seconds``, it says so in one line and wakes
  the shell socket; if that does not bring the reply within another ``stall_seconds``, the cell
  fails with ``KernelStalled`` and the runner reruns the notebook once (cached work is reused).
  The per-cell timeout stays only as a last resort for genuinely long cells.
"""

from __future__ import annotations

import asyncio
from time import monotonic

import zmq
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from traitlets import Any, Bool, Float, Unicode

ENGINE = "advlab"
STALL_SECONDS = 5.0


class KernelStalled(Exception):
    """The kernel stayed idle while a cell's request was pending, even after the socket was woken."""


def stall_reason(status: dict, now: float, limit: float) -> str | None:
    """Why a pending cell looks stalled, or None. ``status`` holds monotonic times: ``sent`` (request
    sent), ``busy`` and ``idle`` (the kernel's status messages for this request, None until seen)."""
    if status.get("idle") is not None:
        if now - status["idle"] > limit:
            return f"the kernel finished the cell {now - status['idle']:.0f} s ago but its reply has not arrived"
    elif status.get("busy") is None and now - status["sent"] > limit:
        return f"the kernel has not started the cell {now - status['sent']:.0f} s after it was sent"
    return None


def wake(socket) -> None:
    """Make a zmq.asyncio socket re-check for waiting messages (reading its events schedules that)."""
    socket.get(zmq.EVENTS)


def rearm_after_send(channel) -> None:
    """Wrap ``channel.send`` so that each send is followed by ``wake`` (see the module docstring)."""
    send = channel.send

    def send_and_wake(msg):
        result = send(msg)
        wake(channel.socket)
        return result

    channel.send = send_and_wake


def _print(line: str) -> None:
    print(line, flush=True)


class WatchdogClient(PapermillNotebookClient):
    stall_seconds = Float(STALL_SECONDS, help="seconds an idle kernel may keep a cell pending").tag(config=True)
    rearm = Bool(True, help="wake the shell socket after each send on it").tag(config=True)
    label = Unicode("", help="the notebook's name, for messages").tag(config=True)
    on_stall = Any(None, help="called with a one-line message for each stall seen (default: print it)")

    _status: dict | None = None
    _stalled: str | None = None

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "status" and self._status is not None:
            self._status[msg["content"]["execution_state"]] = monotonic()
        return super().process_message(msg, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if self.rearm and not getattr(self.kc.shell_channel, "_advlab_rearmed", False):
            rearm_after_send(self.kc.shell_channel)
            self.kc.shell_channel._advlab_rearmed = True
        self._status, self._stalled = {"sent": monotonic(), "busy": None, "idle": None}, None
        dog = asyncio.ensure_future(self._watch(cell))
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            if self._stalled:
                raise KernelStalled(self._stalled) from None
            raise
        finally:
            dog.cancel()
            self._status = None

    # nbclient binds execute_cell to its own async_execute_cell: bind it to this one
    execute_cell = run_sync(async_execute_cell)

    async def _async_poll_kernel_alive(self) -> None:
        self._alive_task = asyncio.current_task()  # to cancel it with the cell (nbclient leaves it)
        await super()._async_poll_kernel_alive()

    async def _watch(self, cell) -> None:
        woken = False
        while True:
            await asyncio.sleep(min(0.5, self.stall_seconds / 4))
            reason = stall_reason(self._status, monotonic(), self.stall_seconds)
            if reason is None:
                continue
            where = f"{self.label + ' ' if self.label else ''}cell [{cell.get('execution_count') or '?'}]"
            if not woken:
                line = f"{where}: {reason}; waking the kernel channel"
                (self.on_stall or _print)(line)
                wake(self.kc.shell_channel.socket)
                woken = True
                now = monotonic()  # give it another period
                self._status = {**self._status, "sent": now, "idle": now if self._status["idle"] else None}
                continue
            self._stalled = f"{where}: {reason}, even after waking the channel"
            self.task_poll_for_reply.cancel()  # nbclient raises DeadKernelError, turned into KernelStalled
            if getattr(self, "_alive_task", None) is not None:
                self._alive_task.cancel()
            return


class WatchdogEngine(NBClientEngine):
    """papermill's nbclient engine with ``WatchdogClient``; extra keyword arguments of
    ``papermill.execute_notebook`` (stall_seconds, rearm, label, shutdown_kernel, ...) reach the client."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        **kwargs,
    ):
        for name in ("input_path", "timeout", "startup_timeout"):
            kwargs.pop(name, None)
        return WatchdogClient(
            nb_man,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        ).execute()


papermill_engines.register(ENGINE, WatchdogEngine)
