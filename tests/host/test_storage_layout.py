"""Storage by concern: all SQL text lives in host/storage/, one module per concern.

The scan reads every string literal of host/ and sim/ outside host/storage/ (f-strings with
their holes as `{}`, `+` concatenations joined) and fails naming the file and line of any that
reads as an SQL statement.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from host.storage.base import Storage
from host.storage.connection import Connection

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("host", "sim")
STORAGE = ROOT / "host" / "storage"
_STATEMENT = (
    r"\bSELECT\b[\s\S]*?\bFROM\b"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\S+\s+SET\b"
    r"|\bDELETE\s+FROM\b"
)
# The project writes SQL keywords in capitals; in lower case they are prose ("select one
# from the list", "delete it from the registry"), which is not flagged.
SQL = re.compile(_STATEMENT)
CONCERNS = (
    "units",
    "telemetry",
    "events",
    "boards",
    "desired",
    "audit",
    "alarms",
    "registry",
    "users",
    "balancing",
    "rooms",
)


def _text(node: ast.AST) -> str | None:
    """The string a literal expression spells, holes as `{}`; None when it is no string."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def sql_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in a module that reads as an SQL statement."""
    found: dict[int, str] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        text = _text(node)
        if text is not None and SQL.search(text):
            found.setdefault(node.lineno, " ".join(text.split())[:80])
    return sorted(found.items())


def test_no_module_outside_host_storage_holds_sql():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for top in SCANNED
        for path in sorted((ROOT / top).rglob("*.py"))
        if STORAGE not in path.parents
        for line, text in sql_literals(path)
    ]
    assert offenders == [], "SQL outside host/storage/:\n" + "\n".join(offenders)


def test_the_sql_scan_sees_fstrings_and_concatenations_but_not_prose(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f(db, t, c):\n"
        '    db.run(f"SELECT {c} FROM {t} WHERE id = ?")\n'
        '    db.run("SELECT a, b" + " FROM t")\n'
        '    db.run("INSERT OR IGNORE INTO t VALUES (?)")\n'
        '    db.run(f"UPDATE {t} SET a = 1")\n'
        '    db.run("DELETE"\n           " FROM t")\n'
        '    """Select a station from the list, update it, set it, delete it from here."""\n'
        '    return "Insert the card into the slot"\n'
    )
    assert [line for line, _ in sql_literals(module)] == [2, 3, 4, 5, 6]


def test_each_concern_is_a_documented_module_composed_into_storage():
    for name in CONCERNS:
        module = importlib.import_module(f"host.storage.{name}")
        assert (module.__doc__ or "").strip(), f"host/storage/{name}.py has no docstring"
        mixins = [
            v
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, Connection)
            and v.__module__ == module.__name__
        ]
        assert len(mixins) == 1 and issubclass(Storage, mixins[0]), name
    # no concern shadows another's name: each public method has one home
    homes: dict[str, str] = {}
    for cls in Storage.__mro__:
        if cls in (Storage, Connection, object):
            continue
        for attr in vars(cls):
            if not attr.startswith("__"):
                assert attr not in homes, f"{attr} in {cls.__module__} and {homes[attr]}"
                homes[attr] = cls.__module__
