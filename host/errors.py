"""The root of every error the host raises on purpose, and its general kinds.

Every exception class defined under host/ derives from `EvenheatError`, so a caller can tell
the host's own, named failures from bugs, and the API can answer each by its type (never by
its message text). An error carries its data as attributes:

- `reason`: a short code ("missing", "bad-value", ...; the class's default, or given);
- `detail`: what was wrong, for a person (text, or data such as a list of problems);
- where it applies, what it is about: `field` and `value` of a refused input, `problems`
  of a file, `alarm_id`, `node_ids`, ...

A domain error keeps its second base (`class RegistryError(RefusedError, ValueError)`), so
code that catches ValueError or RuntimeError keeps working.

The general kinds:

- `RefusedError(reason, detail)`: a request refused before anything changed (a bad value, an
  unknown object, a conflict with the current state); `str()` is "reason: detail".
- `ProblemsError(problems, source)`: input (a file, a data set) with problems, all of them
  listed in `problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class EvenheatError(Exception):
    """Root of every error the host raises: `reason` a short code, `detail` what happened.

    `EvenheatError("text")` behaves as `Exception("text")` (`detail` is the text); subclasses
    give `reason` a class default and add attributes of their own."""

    reason: str = "error"

    def __init__(self, detail: Any = "", *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Constructors differ per class: rebuild from the message and the attributes.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[EvenheatError], args: tuple[Any, ...], state: dict[str, Any]
) -> EvenheatError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class RefusedError(EvenheatError):
    """A request refused before anything changed; `reason` says which rule, `detail` why.

    `field` and `value` name the offending input where the refusal knows it."""

    def __init__(
        self, reason: str, detail: str, *, field: str | None = None, value: Any = None
    ) -> None:
        super().__init__(detail, reason=reason)
        self.args = (f"{reason}: {detail}",)
        self.field = field
        self.value = value


class ProblemsError(EvenheatError):
    """Input with problems; `problems` lists all of them, `source` names the input."""

    reason = "problems"
    SHOWN = 50  # problems written out in the message; the rest are counted

    def __init__(self, problems: Iterable[Any], source: str = "input") -> None:
        self.problems = tuple(problems)
        self.source = source
        shown = "\n".join(f"  - {p}" for p in self.problems[: self.SHOWN])
        rest = len(self.problems) - self.SHOWN
        more = f"\n  … and {rest} more" if rest > 0 else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{shown}{more}")
