"""A test case split in two: the calls into a student's code (probes) and the checks on what they returned.

Otter stores each test case as a doctest that runs in the student's namespace. Graded that way, the
checks share a process with the student's code, which could read them, patch them or fake their
result. :func:`split_case` separates, statement by statement:

- **probes**: the statements that call a function the student's notebook defines (or a helper of the
  test that calls one), together with the non-assert statements before them that they need (their
  inputs, a ``torch.manual_seed``). They run in the sandbox, after the notebook;
- **exports**: the values the checks read: what the probes assigned and the other names the notebook
  defines (a list of losses, a trained model), sent back as data (:func:`encode`: numbers, strings,
  tensors, lists, tuples, dicts, the course's CNN as its weights);
- **checks**: every other statement, every assertion among them, run by the instructor's process on
  the decoded values with its own models and data.

So the assertions and the reference computations never enter the student's process, and no result
the student's process writes is trusted beyond being the answers' values.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np
import torch

from advlab.core.models import BaselineCNN

MAX_ITEMS = 100_000  # values in one answer file (tensors count as one)


@dataclass(frozen=True)
class Split:
    probe: str  # Python run in the sandbox ('' when the case calls no student code)
    exports: tuple[str, ...]  # names whose values the sandbox returns
    check: str  # Python run by the instructor


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def doctest_source(body: str) -> str:
    """The Python of an Otter (OK format) test case: its ``>>>`` and ``...`` lines without the prompts."""
    lines = []
    for line in body.splitlines():
        if line.startswith((">>> ", "... ")):
            lines.append(line[4:])
        elif line.rstrip() in (">>>", "..."):
            lines.append("")
    return "\n".join(lines)


def stored_names(node: ast.AST) -> set[str]:
    """Names a statement binds: assignment targets, defs, classes, imports, loop and ``with`` targets."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
    return names


def loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def defined_names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell of code defines at its top level, as ``(functions, data)``: what ``def``,
    ``class`` and ``lambda`` bind, and every other name (what a student's cell puts in the namespace)."""
    functions, data = set(), set()
    for stmt in ast.parse(source).body if source.strip() else []:
        if isinstance(stmt, _DEFS):
            functions.add(stmt.name)  # not the names bound inside its body
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda):
            functions.update(stored_names(stmt))
        else:
            data.update(stored_names(stmt))
    return functions, data - functions


def _calls(stmt: ast.AST, code: set[str]) -> bool:
    """Does ``stmt`` call (or define a function that calls) one of the names in ``code``?"""
    return any(isinstance(n, ast.Call) and loaded_names(n.func) & code for n in ast.walk(stmt))


def split_case(source: str, functions: set[str], data: set[str] = frozenset()) -> Split:
    """Split a test case's Python into probes and checks (module docstring). ``functions``: the
    functions and classes the student's notebook defines; ``data``: the other names it defines."""
    body = ast.parse(source).body
    code, results, probes, exports = set(functions), set(data), [], []
    for stmt in body:
        is_probe = not isinstance(stmt, ast.Assert) and _calls(stmt, code)
        probes.append(is_probe)
        if is_probe and isinstance(stmt, _DEFS):
            code.add(stmt.name)
        elif is_probe:
            results |= stored_names(stmt)
        else:
            reads = loaded_names(stmt) - (stored_names(stmt) if isinstance(stmt, _DEFS) else set())
            exports += sorted((reads & results) - set(exports))
            results -= stored_names(stmt)
    keep, need = [False] * len(body), set()
    for i in reversed(range(len(body))):
        stmt, later = body[i], any(probes[i + 1 :])
        stores = stored_names(stmt)
        if probes[i] or (later and not isinstance(stmt, ast.Assert) and (stores & need or stores <= {"_"})):
            keep[i] = True
            need |= loaded_names(stmt)
    return Split(
        probe="\n".join(ast.unparse(s) for s, k in zip(body, keep) if k),
        exports=tuple(exports),
        check="\n".join(ast.unparse(s) for s, p in zip(body, probes) if not p),
    )


# --- values across the sandbox's wall ------------------------------------------------------------


class _Encoder:
    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.arrays: dict = {}
        self.items = 0

    def __call__(self, value, depth: int = 0):
        self.items += 1
        if depth > 6 or self.items > MAX_ITEMS:
            raise ValueError("the answer is nested too deeply or holds too many values")
        if value is None or isinstance(value, (bool, int, str)):
            return {"v": value}
        if isinstance(value, float):
            return {"v": value} if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, torch.Tensor):
            return {"tensor": self._array(value.detach().cpu().numpy())["array"]}
        if isinstance(value, (np.ndarray, np.generic)):
            return self._array(value)
        if isinstance(value, (list, tuple)):
            return {type(value).__name__: [self(v, depth + 1) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: self(v, depth + 1) for k, v in value.items()}}
        if isinstance(value, torch.nn.Module):
            return self._model(value, depth)
        raise TypeError(f"a {type(value).__name__} cannot be handed to the grader (numbers, tensors, lists, dicts)")

    def _array(self, value):
        array = np.ascontiguousarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"an array of {array.dtype} cannot be handed to the grader")
        key = f"{self.prefix}a{len(self.arrays)}"
        self.arrays[key] = array
        return {"array": key}

    def _model(self, value, depth):
        if type(value) is not BaselineCNN:
            raise TypeError(f"only the course's BaselineCNN can be handed to the grader, not {type(value).__name__}")
        state = {k: self(v, depth + 1) for k, v in value.state_dict().items()}
        return {"model": {"width": int(value.width), "training": bool(value.training), "state": state}}


def encode(values: dict, prefix: str = "") -> tuple[dict, dict]:
    """``values`` (name -> value) as JSON-ready data and the arrays it refers to (for ``numpy.savez``;
    their keys start with ``prefix``)."""
    enc = _Encoder(prefix)
    return {k: enc(v) for k, v in values.items()}, enc.arrays


def decode(item, arrays):
    """The value :func:`encode` wrote (``arrays``: the loaded ``.npz``, read with ``allow_pickle=False``)."""
    if not isinstance(item, dict) or len(item) != 1:
        raise ValueError("malformed answer")
    ((kind, data),) = item.items()
    if kind == "v" and (data is None or isinstance(data, (bool, int, float, str))):
        return data
    if kind == "float" and data in ("inf", "-inf", "nan"):
        return float(data)
    if kind in ("list", "tuple") and isinstance(data, list):
        items = [decode(v, arrays) for v in data]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(data, dict):
        return {str(k): decode(v, arrays) for k, v in data.items()}
    if kind in ("array", "tensor") and isinstance(data, str):
        array = arrays[data]
        return torch.from_numpy(array.copy()) if kind == "tensor" else array
    if kind == "model" and isinstance(data, dict):
        return _decode_model(data, arrays)
    raise ValueError(f"malformed answer ({kind})")


def _decode_model(data: dict, arrays):
    model = BaselineCNN(width=int(data["width"]))
    model.load_state_dict({k: decode(v, arrays) for k, v in data["state"].items()})
    return model.train(bool(data["training"]))
