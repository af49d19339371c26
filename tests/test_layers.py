"""The package's layers, read from the code: imports run one way, no cycle, few imports inside functions."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "advlab"
# Each layer may import itself and the layers before it. The package's own __init__ and the
# top-level command-line modules sit above all of them.
LAYERS = ["core", "evaluation", "course", "report", "runtime"]
MAX_LOCAL_IMPORTS = 10
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = ("advlab",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """``(imported advlab module, inside a function?)`` for every import of an advlab module in ``path``."""
    tree = ast.parse(path.read_text())
    local = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(f)
        if isinstance(n, (ast.Import, ast.ImportFrom))
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from advlab.course import pipeline" imports the module advlab.course.pipeline
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            ]
        else:
            continue
        found += [(n, id(node) in local) for n in names if n == "advlab" or n.startswith("advlab.")]
    return found


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def graph() -> dict[str, list[tuple[str, bool]]]:
    known = set(modules())
    return {name: imports(path, known) for name, path in modules().items()}


def test_no_relative_imports_and_the_layers_exist():
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level], name
    assert {m.split(".")[1] for m in modules() if layer(m) is not None} == set(LAYERS)


def test_imports_run_one_way():
    wrong = [
        f"{src} -> {dst}"
        for src, deps in graph().items()
        for dst, _ in deps
        if layer(src) is not None and (layer(dst) is None or layer(dst) > layer(src))
    ]
    assert not wrong, "imports against the layers (core < evaluation < course < report < runtime):\n" + "\n".join(wrong)


def test_no_import_cycle():
    g = {src: sorted({dst for dst, _ in deps if dst in modules() and dst != src}) for src, deps in graph().items()}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in g.get(node, []):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in g:
        if node not in state:
            visit(node)


def test_few_imports_inside_functions():
    local = [f"{src}: {dst}" for src, deps in graph().items() for dst, inside in deps if inside]
    assert len(local) <= MAX_LOCAL_IMPORTS, "\n".join(local)


def test_short_modules_and_functions():
    long = []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {size} lines")
    assert not long, "\n".join(long)


def test_the_checks_can_fail(tmp_path):
    """The import reader sees a wrong-way import and an import inside a function."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text(
        "from advlab.course import pipeline\n\ndef f():\n    import advlab.report\n"
    )
    deps = imports(tmp_path / "core" / "bad.py", {"advlab.course.pipeline"})
    assert deps == [("advlab.course.pipeline", False), ("advlab.report", True)]
    assert layer("advlab.core.bad") == 0 and layer("advlab.course.pipeline") == 2
