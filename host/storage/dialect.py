"""The one difference of SQL text between the backends: the parameter style.

Statements are written with SQLite's `?` placeholders. psycopg wants `%s`, and reads every
`%` of a statement given parameters as the start of one, also inside a quoted literal.
`qmark_to_format` therefore turns each `?` outside string literals ('...'), quoted identifiers
("...") and comments into `%s`, and doubles every `%` it finds anywhere (psycopg reads `%%` as
one `%`). Statements are always run with a parameter tuple (possibly empty), so psycopg always
reads `%%` back as `%`.

Only the SQL both databases speak is understood: quotes are escaped by doubling them; no
PostgreSQL E'...' or $$...$$ strings (SQLite has neither).
"""

from __future__ import annotations

import re
from functools import lru_cache

from host.storage.connection import StorageError

_TOKEN = re.compile(
    r"""
      '[^']*(?:''[^']*)*'       # a string literal, '' inside is one quote
    | "[^"]*(?:""[^"]*)*"       # a quoted identifier, "" inside is one quote
    | --[^\n]*                  # a line comment
    | /\*.*?\*/                 # a block comment
    | ['"]|/\*                  # an opening quote or comment that never closes
    | [?%]                      # a placeholder, a percent sign
    """,
    re.VERBOSE | re.DOTALL,
)


def _replace(match: re.Match[str]) -> str:
    token = match.group()
    if token == "?":
        return "%s"
    if token in ("'", '"', "/*"):
        raise StorageError(f"unterminated {token} in SQL at {match.start()}")
    return token.replace("%", "%%")


@lru_cache(maxsize=1024)
def qmark_to_format(sql: str) -> str:
    """`sql` with `?` placeholders in psycopg's `%s` style (see the module docstring)."""
    return _TOKEN.sub(_replace, sql)
