"""`evenheat export` and `evenheat user`, run in-process on a SQLite database filled
directly through storage (no broker needed: the CLI reads the database)."""

from __future__ import annotations

import argparse
import io
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from host.api.users import Users
from host.assets.registry import Registry
from host.cli import export as export_cli
from host.cli import users as user_cli
from host.storage import TeleMessage, open_storage, tele_rows
from tests.host.helpers import tele

T = 1736467200  # 2025-01-10 00:00 UTC = 08:00 in Asia/Shanghai


def run(argv: list[str]) -> int:
    """What `evenheat ARGV` does once both modules are registered (usage errors exit 2)."""
    parser = argparse.ArgumentParser(prog="evenheat")
    subparsers = parser.add_subparsers(dest="command")
    export_cli.register(subparsers)
    user_cli.register(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.func(args))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/evenheat.db"
    storage = open_storage(url)
    reg = Registry(storage)
    reg.add_station("st1", "est")
    reg.add_building("b1", "st1")
    reg.add_entrance("e1", "b1", "est", "u1")
    reg.add_entrance("e2", "b1", "est", "u2")
    for unit, t_c in (("u1", 40.0), ("u2", 37.0)):
        uid = storage.unit_id("est", unit)
        msgs = [
            TeleMessage(
                uid,
                seq,
                T + 60 * seq,
                T + 60 * seq,
                tele_rows(tele(seq, T + 60 * seq, n_households=1, t_c=t_c)),
            )
            for seq in range(1, 6)
        ]
        storage.insert_telemetry(msgs)
    storage.close()
    return url


def _export(db: str, out: Path, *extra: str) -> int:
    return run(
        [
            "export",
            "--database",
            db,
            "--site",
            "est",
            "--from",
            "2025-01-10T08:00",
            "--to",
            "2025-01-10T09:00",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_export_to_csv(db, tmp_path, capsys):
    out = tmp_path / "est.csv"
    assert (
        _export(
            db, out, "--units", "u1", "--points", "entrance", "--fields", "t_return_c", "flow_m3h"
        )
        == 0
    )
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert (
        lines[0] == "time (Asia/Shanghai),ts_s [s UTC],unit,point,t_return_c [°C],flow_m3h [m³/h]"
    )
    assert lines[1] == f"2025-01-10T08:01:00+08:00,{T + 60},u1,entrance,40.0,3.2"
    assert len(lines) == 6
    assert "wrote 5 rows" in capsys.readouterr().err


def test_export_to_excel_every_unit_and_point(db, tmp_path):
    out = tmp_path / "est.xlsx"
    assert _export(db, out, "--fields", "t_return_c", "opening_cmd_pct") == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["u1", "u2", "(export)"]
    rows = list(book["u2"].iter_rows(values_only=True))
    assert rows[0] == (
        "time (Asia/Shanghai)",
        "ts_s [s UTC]",
        "point",
        "t_return_c [°C]",
        "opening_cmd_pct [%]",
    )
    assert rows[1:3] == [
        (datetime(2025, 1, 10, 8, 1), T + 60, "entrance", 37.0, 50.0),
        (datetime(2025, 1, 10, 8, 1), T + 60, "h0", 36.0, 40.0),
    ]
    assert len(rows) == 1 + 5 * 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--units", "u9"], "unknown-unit: no unit est/u9"),
        (["--fields", "t_return_c", "color_c"], "unknown-field: no field 'color_c'"),
        (["--points", "h7"], "unknown-point: no point 'h7'"),
        (["--from", "2025-01-10T10:00"], "bad-range"),
        (["--tz", "Nowhere/City"], "unknown-timezone"),
        (["--from", "soon"], "bad-time"),
    ],
)
def test_bad_exports_write_nothing(db, tmp_path, capsys, extra, message):
    out = tmp_path / "est.xlsx"
    assert _export(db, out, *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "evenheat.db"] + [
        p for p in tmp_path.iterdir() if p.name.startswith("evenheat.db-")
    ]  # no temporary file left behind either
    out.write_bytes(b"keep me")
    assert _export(db, out, *extra) == 1
    assert out.read_bytes() == b"keep me"


def test_export_usage_and_database_errors(tmp_path, capsys):
    assert run(["export", "--site", "est"]) == 2  # argparse: --database/--config required
    code = run(
        [
            "export",
            "--database",
            f"sqlite:///{tmp_path}/none.db",
            "--site",
            "est",
            "--from",
            "0",
            "--to",
            "1",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 1 and "no database file" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # not created by accident
    assert (
        run(
            [
                "export",
                "--database",
                "mysql://x",
                "--site",
                "e",
                "--from",
                "0",
                "--to",
                "1",
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 1
    )


def test_user_add_from_stdin_and_file_then_change(db, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("operator-secret\n"))
    assert run(["user", "add", "olga", "--role", "operator", "--database", db]) == 0
    secret = tmp_path / "pw"
    secret.write_text("admin-secret-1\n")
    assert (
        run(
            [
                "user",
                "add",
                "root",
                "--role",
                "admin",
                "--password-file",
                str(secret),
                "--database",
                db,
            ]
        )
        == 0
    )
    storage = open_storage(db)
    users = Users(storage)
    assert users.authenticate("olga", "operator-secret").role == "operator"
    assert users.authenticate("root", "admin-secret-1").role == "admin"
    rows = storage.fetch_all("SELECT who, action, target FROM audit WHERE action = 'add_user'")
    assert all(who.startswith("cli") for who, _, _ in rows) and len(rows) == 2
    capsys.readouterr()
    assert run(["user", "list", "--database", db]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "olga\toperator\tenabled",
        "root\tadmin\tenabled",
    ]
    assert run(["user", "set", "olga", "--role", "viewer", "--disable", "--database", db]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("another-secret\n"))
    assert run(["user", "set", "root", "--password", "--database", db]) == 0
    assert users.get("olga").disabled and users.get("olga").role == "viewer"
    assert users.authenticate("root", "another-secret") is not None
    # refusals: exit 1 with "Error: ...", usage errors 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("operator-secret\n"))
    assert run(["user", "add", "olga", "--role", "operator", "--database", db]) == 1
    assert "duplicate" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert run(["user", "add", "ann", "--role", "viewer", "--database", db]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert run(["user", "set", "root", "--disable", "--database", db]) == 1
    assert "last enabled admin" in capsys.readouterr().err
    assert run(["user", "set", "ghost", "--enable", "--database", db]) == 1
    assert run(["user", "add", "ann", "--role", "god", "--database", db]) == 2
    assert (
        run(
            [
                "user",
                "add",
                "ann",
                "--role",
                "viewer",
                "--password-file",
                str(tmp_path / "missing"),
                "--database",
                db,
            ]
        )
        == 1
    )
    storage.close()
