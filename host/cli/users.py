"""`evenheat user`: manage the REST API's users in the service's database.

    evenheat user add NAME --role viewer|operator|admin [--password-file FILE] --config host.toml
    evenheat user set NAME [--role R] [--disable | --enable] [--password-file FILE | --password]
    evenheat user list

Without --password-file the password is read from stdin (one line; on a terminal it is asked
twice without echo). Changes are audited as `cli:<login name>`. Exit 0 done, 1 refused, 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from host.api.users import ROLES, UserError, Users
from host.cli.export import EXIT_FAILED, add_database_arguments, open_database


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "user", help="manage REST API users", description="Add, change and list API users."
    )
    commands = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = commands.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-file", type=Path, help="default: read from stdin")
    add_database_arguments(add)
    add.set_defaults(func=user_add)

    change = commands.add_parser("set", help="change a user's role, password or state")
    change.add_argument("name")
    change.add_argument("--role", choices=ROLES)
    state = change.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_const", const=True)
    state.add_argument("--enable", dest="disabled", action="store_const", const=False)
    password = change.add_mutually_exclusive_group()
    password.add_argument("--password-file", type=Path)
    password.add_argument("--password", action="store_true", help="read a new one from stdin")
    add_database_arguments(change)
    change.set_defaults(func=user_set)

    show = commands.add_parser("list", help="list users")
    add_database_arguments(show)
    show.set_defaults(func=user_list)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(args: argparse.Namespace, action: Callable[[Users], None]) -> int:
    try:
        storage = open_database(args)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        action(Users(storage))
    except (UserError, ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        storage.close()
    return 0


def user_add(args: argparse.Namespace) -> int:
    def action(users: Users) -> None:
        user = users.add(args.name, args.role, _password(args.password_file), who=_who())
        print(f"added {user.name} ({user.role})", file=sys.stderr)

    return _run(args, action)


def user_set(args: argparse.Namespace) -> int:
    def action(users: Users) -> None:
        password = None
        if args.password_file is not None or args.password:
            password = _password(args.password_file)
        user = users.update(
            args.name, _who(), role=args.role, password=password, disabled=args.disabled
        )
        state = "disabled" if user.disabled else "enabled"
        print(f"{user.name}: {user.role}, {state}", file=sys.stderr)

    return _run(args, action)


def user_list(args: argparse.Namespace) -> int:
    def action(users: Users) -> None:
        for user in users.list():
            print(f"{user.name}\t{user.role}\t{'disabled' if user.disabled else 'enabled'}")

    return _run(args, action)
