"""Atomic file writes: a crash or an interrupt never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path``
    keeps whatever it held before.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def quarantine(p: Path, why: str) -> Path:
    """Move the unreadable cache entry ``p`` aside to ``<p>.corrupt`` (replacing an older one) and say so."""
    bad = p.with_name(p.name + ".corrupt")
    os.replace(p, bad)
    print(
        f"advlab: warning: cached {p} is unreadable ({why}); moved it to {bad.name} and rebuilding it",
        file=sys.stderr,
        flush=True,
    )
    return bad
