"""The audit trail: who did what, to what, when, with which result.

One row per command or edit, accepted or refused (`result` is "done" or "refused: why"); the
detail is stored as given (text) or as sorted JSON. Rows are never changed or deleted.
"""

from __future__ import annotations

import json
import time
from typing import Any

from host.storage.connection import Connection

AUDIT_FIELDS = ("id", "ts_s", "who", "action", "target", "detail", "result")


class AuditTables(Connection):
    """The `audit` table."""

    def audit(self, who: str, action: str, target: str, detail: Any, result: str) -> None:
        """Record who did what, to what, when, with which result."""
        text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        self.execute(
            "INSERT INTO audit (ts_s, who, action, target, detail, result)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), who, action, target, text, result),
        )

    def audit_log(self, limit: int = 100) -> list[tuple[float, str, str, str, str, str]]:
        """Newest first: (ts_s, who, action, target, detail, result)."""
        return self.fetch_all(
            "SELECT ts_s, who, action, target, detail, result FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )

    def audit_rows(
        self,
        who: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since_s: float | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Newest first: audit rows (AUDIT_FIELDS) matching every filter given, at or after
        `since_s`."""
        filters: list[str] = []
        params: list[Any] = []
        for column, value in (("who", who), ("action", action), ("target", target)):
            if value is not None:
                filters.append(f"{column} = ?")
                params.append(value)
        if since_s is not None:
            filters.append("ts_s >= ?")
            params.append(since_s)
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        rows = self.fetch_all(
            f"SELECT {', '.join(AUDIT_FIELDS)} FROM audit{where} ORDER BY id DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [dict(zip(AUDIT_FIELDS, r, strict=True)) for r in rows]

    def audit_about(self, target: str, limit: int) -> list[dict[str, Any]]:
        """Newest first: audit rows (AUDIT_FIELDS but the id) about `target` or anything
        under it (`target/...`)."""
        cols = AUDIT_FIELDS[1:]
        under = target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.fetch_all(
            f"SELECT {', '.join(cols)} FROM audit WHERE target = ? OR target LIKE ? ESCAPE '\\'"
            " ORDER BY id DESC LIMIT ?",
            (target, f"{under}/%", int(limit)),
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]
