"""Lazily exported names stay typed: a user's mypy --strict must not see them as Any."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import streamprocessor

SRC = Path(streamprocessor.__file__).parent


def _lazy_modules() -> list[Path]:
    """Every module of the package with a module-level ``__getattr__``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
            found.append(path)
    return found


def _bound_names(nodes: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _exports(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)  # a literal list: mypy reads no other
            assert isinstance(value, list)
            return value
    raise AssertionError("no __all__")


def test_the_lazy_modules_are_found() -> None:
    names = {p.relative_to(SRC).as_posix() for p in _lazy_modules()}
    assert {"__init__.py", "config/__init__.py", "testing/__init__.py"} <= names


@pytest.mark.parametrize("path", _lazy_modules(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_every_lazy_export_has_a_type_checking_import(path: Path) -> None:
    """A name served by ``__getattr__`` is Any to mypy unless imported for type checking."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = _bound_names(tree.body)
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            bound |= _bound_names(node.body)
    exported = _exports(tree)
    assert [name for name in exported if name not in bound] == []
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    module = importlib.import_module(".".join(p for p in parts if p != "__init__"))
    for name in exported:
        getattr(module, name)  # and each one resolves at run time
