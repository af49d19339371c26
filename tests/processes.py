"""The processes a run left behind, whatever else runs beside the test (another test's Ray instance included).

A test starts the run in a session of its own (``start_new_session=True``) with a marker in its environment
(:func:`marked_env`). Ray's daemons and workers stay in the run's session; Jupyter starts each kernel in a
session of its own, but it inherits the environment. What the run left behind is every live process of its
session or with its marker."""

import os
import time
import uuid
from pathlib import Path

MARKER = "ADVLAB_TEST_RUN"


def marked_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with a new marker; pass the result to the run."""
    return {**(os.environ if env is None else env), MARKER: uuid.uuid4().hex}


def of_run(sid: int, env: dict) -> dict[int, str]:
    """``{pid: name}`` of the live processes of session ``sid`` or carrying ``env``'s marker (from /proc)."""
    tag = f"{MARKER}={env[MARKER]}".encode() + b"\0"
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            text = (proc / "stat").read_text()
            name, fields = text[text.find("(") + 1 : text.rfind(")")], text[text.rfind(")") + 1 :].split()
            if fields[0] != "Z" and (int(fields[3]) == sid or tag in (proc / "environ").read_bytes()):
                found[int(proc.name)] = name
        except (OSError, ValueError, IndexError):
            continue
    return found


def left_behind(sid: int, env: dict, grace: float = 10.0) -> dict[int, str]:
    """The run's processes still alive ``grace`` seconds after it ended (none, at once, if it cleaned up)."""
    deadline = time.monotonic() + grace
    while (found := of_run(sid, env)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found
