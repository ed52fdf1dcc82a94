"""The import graph of data/, model/ and ui/: one direction, no circles, no hidden imports.

Read from the source with ast (nothing is imported), so a test fails on the line that breaks a rule.
Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("data", "model", "ui")
# model/core is what everything else stands on; model/cli is reached only through the
# one-line `python -m model.NAME` modules.
LAYERS = ("model.core", "model.training", "model.evaluation", "model.lab", "model.analysis", "model.cli")
COMMAND_SHIMS = {
    "model.train",
    "model.evaluate",
    "model.predict",
    "model.analyze",
    "model.context",
    "model.transplant",
    "model.memory_units",
    "model.weight_storage",
    "model.lab.__main__",
}


def _modules() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[module.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for each import in the file, TYPE_CHECKING blocks left out."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(inner) for inner in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.append((name if name in MODULES else node.module, node.lineno, node.col_offset > 0))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, node.col_offset > 0) for alias in node.names)
    return found


IMPORTS = {module: _imports(path) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), module.split(".")[0])


def test_the_scan_sees_the_tree():
    assert {"data.files", "model.core.checkpoint", "model.cli.train", "ui.main"} <= set(MODULES)
    assert "model.core.language_model" in {name for name, _, _ in IMPORTS["model.core.checkpoint"]}


def test_no_import_circles():
    graph = {
        module: sorted({name for name, _, _ in found if name in MODULES and name != module})
        for module, found in IMPORTS.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []
    circles = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


@pytest.mark.parametrize(
    "importer, forbidden",
    [
        ("data", ("model", "ui", "bench", "streamlit")),
        ("model", ("ui", "bench", "streamlit")),
        ("model.core", ("model.training", "model.evaluation", "model.lab", "model.analysis", "model.cli")),
        ("model.training", ("model.lab", "model.analysis", "model.cli")),
        ("model.evaluation", ("model.training", "model.lab", "model.analysis", "model.cli")),
        ("model.analysis", ("model.training", "model.lab", "model.cli")),
        ("model.analysis.recurrence", ("model.analysis.influence", "model.analysis.memory")),
        ("model.analysis.influence", ("model.analysis.memory",)),
        ("ui", ("model.cli", "bench")),
        ("ui.services", ("ui.views", "ui.widgets", "ui.lecture", "ui.main")),
        ("ui.widgets", ("ui.views", "ui.lecture", "ui.main")),
        ("ui.views", ("ui.main",)),
    ],
)
def test_imports_flow_one_way(importer: str, forbidden: tuple[str, ...]):
    broken = [
        f"{module} line {line} imports {name}"
        for module, found in IMPORTS.items()
        if (module == importer or module.startswith(importer + ".")) and module not in COMMAND_SHIMS
        for name, line, _ in found
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]
    assert not broken, "\n".join(broken)


def test_the_commands_are_reached_only_through_their_shims():
    users = {
        module
        for module, found in IMPORTS.items()
        for name, _, _ in found
        if _layer(name) == "model.cli" and _layer(module) != "model.cli"
    }
    assert users <= COMMAND_SHIMS, sorted(users - COMMAND_SHIMS)


def test_project_modules_are_imported_at_the_top_of_the_file():
    hidden = [
        f"{module} line {line} imports {name} inside a function"
        for module, found in IMPORTS.items()
        for name, line, inside in found
        if inside and name.split(".")[0] in PACKAGES
    ]
    assert not hidden, "\n".join(hidden)
