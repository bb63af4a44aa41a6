"""The package as users get it: a wheel built from the repository answers in a fresh virtualenv, with the
templates and static files inside it; every module imports alone; no import cycle between modules."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers")


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_a_wheel_built_from_the_repository_answers_in_a_fresh_venv(tmp_path):
    # From a copy of the sources: setuptools reuses a build/ directory, which could carry modules since removed.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "instance", "*.egg-info", "__pycache__", ".pytest_cache", "test-artifacts"))
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("rebot-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=120)
    run(venv / "bin/python", "-m", "pip", "install", "-q", "-c", REPO / "constraints.txt", wheel, timeout=600)

    away = tmp_path / "elsewhere"  # outside the repository: nothing can be read from the checkout
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REBOT_", "PYTHON"))}
    answer = run(venv / "bin/rebot", "chat", "价格 镨钕", cwd=away, env=env, timeout=120).stdout
    assert answer.splitlines()[0] == "氧化镨钕（PrNd-oxide）· 2025-06-11", answer
    english = run(venv / "bin/rebot", "chat", "price PrNd", cwd=away, env=env, timeout=120).stdout
    assert "Price: 449,000 yuan/t" in english.splitlines()

    where = run(venv / "bin/python", "-c", "import bot.render, bot.admin.web as w; "
                "print(bot.render.TEMPLATES / 'admin/base.html'); print(w.blueprint.static_folder)",
                cwd=away, env=env).stdout.split()
    for path in map(Path, where):
        assert path.exists() and path.is_relative_to(venv), path  # the wheel's copies, not the checkout's


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if "migrations" in parts:  # Alembic's scripts, loaded by Alembic, not imported
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


# Imports each module given in a child forked from one interpreter that has loaded only the third-party
# libraries: each of our modules is imported first-hand, as `python -c "import X"` would, in ~1/20 of the time.
IMPORT_EACH = """
import importlib, os, sys
for library in sys.argv[1].split(","):
    try:
        importlib.import_module(library)
    except Exception:
        pass
for name in sys.argv[2:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            print(f"{name}: {exc!r}", flush=True)
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_every_module_imports_on_its_own():
    """Each module imported alone, none of ours loaded before it: no import-order accident hides a cycle."""
    names = modules()
    assert {"bot.cli.push", "bot.push.worker", "handlers.price", "bot.market.products"} <= set(names)
    libraries = {t for targets in third_party_imports().values() for t in targets}
    result = run(sys.executable, "-c", IMPORT_EACH, ",".join(sorted(libraries)), *names, cwd=REPO, timeout=300)
    assert result.stdout == ""
    assert run(sys.executable, "-c", "import bot.cli.push, handlers.trend", cwd=REPO).returncode == 0


def module_level_imports(tree: ast.Module):
    """The import statements run when the module is imported: not those in functions or under TYPE_CHECKING."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imports() -> dict[str, set[str]]:
    """Module -> every module it imports at module level (not inside functions)."""
    names = set(modules())
    graph = {}
    for name in names:
        path = REPO / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # `from bot.admin import pushes` imports the module bot.admin.pushes; `from bot.admin.web import page`,
            # bot.admin.web. (A package's __init__ running first is Python's order, not a cycle.)
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base)
        graph[name] = targets - {name}
    return graph


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of bot/handlers it imports at module level."""
    names = set(modules())
    return {name: {t for t in targets if t in names} for name, targets in imports().items()}


def third_party_imports() -> dict[str, set[str]]:
    own = set(PACKAGES)
    return {name: {t for t in targets if t and t.split(".")[0] not in own} for name, targets in imports().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules():
    graph = import_graph()
    assert "handlers.trend" in graph["handlers.price"]  # the graph sees real imports
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_handlers_reach_the_running_bot_through_their_context():
    """No handler builds a Bot (an engine, a router, threads) of its own: `ctx.bot` is the running one."""
    for path in sorted((REPO / "handlers").glob("*.py")):
        imported = {n.module for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(n, ast.ImportFrom)}
        assert not imported & {"bot.service", "bot.app"}, path.name
