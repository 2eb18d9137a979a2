"""The shape of the library, checked on its source: imports run one way (no cycle), no function is
longer than a screen or takes more than 8 parameters, no base __init__ is handed more than 3
arguments by position, the library never imports Prefect, and the search starts no processes and
reaches tracking only through the interfaces it is handed (TrialLogger, StudyMirror)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "automl"
FLOWS = PACKAGE.parent / "flows"
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 8  # self and cls not counted
MAX_POSITIONAL_TO_INIT = 3  # more, and reordering one signature silently shifts the values


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """Modules imported when `path` runs (imports under `if TYPE_CHECKING:` are for types only)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: sorted(m for m in runtime_imports(path) if m in MODULES and m != name) for name, path in MODULES.items()}


def test_imports_run_one_way():
    """Depth-first search for a cycle among automl's modules (a package counts as its __init__)."""
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in GRAPH[name]:
            if state.get(target) == "open":
                cycle = trail[trail.index(target):] + [target] if target in trail else [name, target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in GRAPH:
        if name not in state:
            visit(name, [name])


def test_no_function_is_longer_than_a_screen():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines: {long}"


def sources() -> dict[str, ast.Module]:
    """Every module of automl/ and flows/, parsed, by its path from the repository root."""
    paths = sorted(PACKAGE.rglob("*.py")) + sorted(FLOWS.rglob("*.py"))
    found = {str(p.relative_to(PACKAGE.parent)): p for p in paths}
    return {name: ast.parse(path.read_text()) for name, path in found.items()}


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Its parameters' names, *args and **kwargs included, but the `self` or `cls` of a method."""
    given = function.args
    names = [a.arg for a in [*given.posonlyargs, *given.args, *given.kwonlyargs]]
    names += [a.arg for a in (given.vararg, given.kwarg) if a is not None]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def test_no_function_takes_more_than_8_parameters():
    wide = [f"{name}:{node.lineno} {node.name}: {len(parameters(node))}" for name, tree in sources().items()
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and len(parameters(node)) > MAX_PARAMETERS]
    assert not wide, f"functions taking more than {MAX_PARAMETERS} parameters: {wide}"


def is_base_init(call: ast.Call) -> bool:
    """`super().__init__(...)` or `Base.__init__(...)` (a base class's, called by name)."""
    target = call.func
    return isinstance(target, ast.Attribute) and target.attr == "__init__" and (
        isinstance(target.value, ast.Name) or (isinstance(target.value, ast.Call)
                                               and getattr(target.value.func, "id", None) == "super"))


def test_no_base_init_is_handed_more_than_3_arguments_by_position():
    positional = [f"{name}:{node.lineno}: {len(node.args)}" for name, tree in sources().items()
                  for node in ast.walk(tree) if isinstance(node, ast.Call) and is_base_init(node)
                  and len(node.args) - (not isinstance(node.func.value, ast.Call)) > MAX_POSITIONAL_TO_INIT]
    assert not positional, f"base __init__ calls with more than {MAX_POSITIONAL_TO_INIT} positional arguments: " \
                           f"{positional}"


def test_the_library_never_imports_prefect():
    offenders = {name: [m for m in runtime_imports(path) if m.split(".")[0] == "prefect"]
                 for name, path in MODULES.items()}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_search_starts_no_processes_and_never_imports_tracking():
    for name, path in MODULES.items():
        if name.startswith("automl.search"):
            imported = {m.split(".")[0] for m in runtime_imports(path)} | set(runtime_imports(path))
            assert not imported & {"subprocess", "multiprocessing", "automl.tracking", "mlflow"}, name


def test_the_checks_see_the_whole_package():
    """The graph above is built from real imports (a broken parser would pass every check)."""
    assert {"automl.search._cv", "automl.tracking._writer", "automl.nn._loop", "automl.pipeline"} <= set(MODULES)
    assert "automl.search._budget" in GRAPH["automl.search._cv"] and "automl.nn" in GRAPH["automl.search._cv"]
    assert "automl.search" not in GRAPH["automl.tracking._trials"]  # imported for types only
    trees = sources()
    assert {"automl/search/_study.py", "flows/pipeline.py"} <= set(trees)
    functions = {node.name: node for tree in trees.values() for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef)}
    assert parameters(functions["run_search"])[:4] == ["space", "X", "y", "settings"]
    assert parameters(functions["log_trial"]) == ["record"]  # (a method: self is not counted)
