"""API users: names, roles (viewer < operator < admin) and salted scrypt password hashes.

Passwords are never stored: `hash_password` derives a 32-byte key with `hashlib.scrypt`
(n = 2**14, r = 8, p = 1, a 16-byte random salt per password) and stores
`scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`; `verify_password` derives again with the
stored parameters and compares in constant time (`hmac.compare_digest`). Deriving costs about
50 ms and 16 MiB on purpose, so `Users.authenticate` remembers, for a few minutes, a keyed
digest (HMAC with a per-process random key) of passwords already verified against a given
stored hash: HTTP Basic sends the password with every request, and a changed password or role
changes the stored row, which invalidates the memo.

Every change is one transaction and audited (`storage.audit`) with who made it; refused
changes raise `UserError` and are audited by the caller that knows who asked (the API).

Usage::

    users = Users(storage)
    users.add("alice", "operator", "a long passphrase", who="admin")
    user = users.authenticate("alice", "a long passphrase")  # None when refused
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from host.errors import RefusedError
from host.storage import Storage

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 1024
MAX_NAME_LEN = 64
# scrypt cost: 128 * r * n bytes of memory (16 MiB), about 50 ms on one core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MEMO_TTL_S = 300.0  # how long a verified password is remembered (per stored hash)
MEMO_MAX = 1024


class UserError(RefusedError, ValueError):
    """A user change refused; `reason` is a short code ("duplicate", "missing", "value")."""


@dataclass(frozen=True)
class User:
    """An API user as the API sees it (never the hash)."""

    name: str
    role: str
    created_s: float
    disabled: bool

    def may(self, role: str) -> bool:
        """True when this user's role is `role` or higher."""
        return RANK[self.role] >= RANK[role]


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password` in the self-describing text form above."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=64 * 1024 * 1024,
        dklen=KEY_BYTES,
    )


def check_name(name: object) -> str:
    """A user name: 1..64 characters of A-Z a-z 0-9 . _ - @ (it appears in the audit)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN:
        raise UserError("value", f"user name must have 1 to {MAX_NAME_LEN} characters")
    if not all(ch.isascii() and (ch.isalnum() or ch in "._-@") for ch in name):
        raise UserError("value", f"user name {name!r} may use only A-Z a-z 0-9 . _ - @")
    return name


def check_role(role: object) -> str:
    if role not in ROLES:
        raise UserError("value", f"role {role!r} is not one of {', '.join(ROLES)}")
    return str(role)


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LEN:
        raise UserError("value", f"password must have at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise UserError("value", f"password must have at most {MAX_PASSWORD_LEN} characters")
    return password


class Users:
    """The `users` table: add, change, list, authenticate."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._memo_key = secrets.token_bytes(32)
        self._memo: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._memo_lock = threading.Lock()

    # ------------------------------------------------------------ reading ----
    def get(self, name: str) -> User | None:
        row = self._row(name)
        return None if row is None else row[0]

    def _row(self, name: str) -> tuple[User, str] | None:
        row = self.storage.user_row(name)
        if row is None:
            return None
        return User(row[0], row[1], float(row[2]), bool(row[3])), row[4]

    def list(self) -> list[User]:
        rows = self.storage.user_rows()
        return [User(r[0], r[1], float(r[2]), bool(r[3])) for r in rows]

    def count(self) -> int:
        return self.storage.user_count()

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, when the name exists, is enabled and the password matches; else None."""
        row = self._row(name)
        if row is None:
            verify_password(password, _DUMMY_HASH)  # same cost whether or not the name exists
            return None
        user, stored = row
        digest = hmac.new(self._memo_key, password.encode("utf-8"), "sha256").digest()
        now = time.monotonic()
        with self._memo_lock:
            memo = self._memo.get((name, stored))
        if memo is not None and now - memo[1] < MEMO_TTL_S:
            ok = hmac.compare_digest(memo[0], digest)
        else:
            ok = verify_password(password, stored)
            if ok:
                with self._memo_lock:
                    if len(self._memo) >= MEMO_MAX:
                        self._memo.clear()
                    self._memo[(name, stored)] = (digest, now)
        return user if ok and not user.disabled else None

    # ------------------------------------------------------------ changing ----
    def add(self, name: str, role: str, password: str, who: str) -> User:
        """A new user; raises UserError (not audited here) when refused."""
        check_name(name)
        check_role(role)
        check_password(password)
        hashed = hash_password(password)
        with self.storage.transaction():
            if self._row(name) is not None:
                raise UserError("duplicate", f"user {name!r} exists already")
            now = time.time()
            self.storage.insert_user(name, role, hashed, now)
            self.storage.audit(who, "add_user", name, {"role": role}, "done")
        return User(name, role, now, False)

    def update(
        self,
        name: str,
        who: str,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change a user's role, password or disabled flag; raises UserError when refused.

        The last enabled admin cannot be demoted or disabled (nobody could manage users)."""
        if role is not None:
            check_role(role)
        hashed = hash_password(check_password(password)) if password is not None else None
        with self.storage.transaction():
            row = self._row(name)
            if row is None:
                raise UserError("missing", f"no user {name!r}")
            user = row[0]
            loses_admin = (
                user.role == "admin"
                and not user.disabled
                and ((role is not None and role != "admin") or disabled is True)
            )
            if loses_admin and self._enabled_admins() <= 1:
                raise UserError("last-admin", f"{name!r} is the last enabled admin")
            changes: dict[str, object] = {}
            if role is not None:
                changes["role"] = role
            if hashed is not None:
                changes["password_hash"] = hashed
            if disabled is not None:
                changes["disabled"] = int(disabled)
            if changes:
                self.storage.update_user(name, changes)
            detail = {k: v for k, v in changes.items() if k != "password_hash"}
            if hashed is not None:
                detail["password"] = "changed"
            self.storage.audit(who, "update_user", name, detail, "done")
        updated = self.get(name)
        assert updated is not None
        return updated

    def _enabled_admins(self) -> int:
        return self.storage.user_count(role="admin", enabled_only=True)

    def bootstrap(self, admin_user: str, admin_password_file: str) -> bool:
        """First start: with a password file configured and no users at all, create the
        admin from it. Returns True when it did. The password is read, never logged."""
        if not admin_password_file or self.count():
            return False
        try:
            password = Path(admin_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError("value", f"api.admin_password_file: {exc}") from None
        self.add(admin_user, "admin", password, who="service:bootstrap")
        return True


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="
