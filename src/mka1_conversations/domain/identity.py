"""Who owns what: an Owner is (account, end user); ``identity`` is how an owner is shown.

Ownership never depends on the display mode: the stored owner key is always the raw
``account:end_user`` string (accounts may not contain ``:``, so the split is unambiguous), and
``MKA1_IDENTITY_MODE`` only decides whether a conversation shows it hashed or raw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from .errors import InvalidRequest

__all__ = ["IdentityMode", "Owner", "parse_on_behalf_of", "validate_account_id"]

IdentityMode = Literal["hash", "raw"]

ON_BEHALF_OF_HEADER = "X-On-Behalf-Of"
_MAX_END_USER = 150


@dataclass(frozen=True, slots=True)
class Owner:
    """The caller: the API key's account and the optional ``X-On-Behalf-Of`` end user.
    ``key_id`` names the API key it came with (usage is counted per key); it is no part of
    who the caller is."""

    account: str
    end_user: str = ""
    key: str = field(init=False)
    key_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.account}:{self.end_user}")

    def identity(self, mode: IdentityMode) -> str:
        """The ``identity`` field of this owner's conversations."""
        if mode == "raw":
            return self.key
        return hashlib.sha256(self.key.encode()).hexdigest()


def validate_account_id(account: str) -> str:
    """Account ids are 1–150 printable ASCII characters without ``:`` (the owner-key separator)."""
    if not 1 <= len(account) <= _MAX_END_USER or not account.isascii():
        raise ValueError(f"invalid account id {account!r}: 1-150 printable ASCII characters")
    if not account.isprintable() or ":" in account or account.strip() != account:
        raise ValueError(f"invalid account id {account!r}: no ':', no surrounding spaces")
    return account


def parse_on_behalf_of(value: str | None) -> str:
    """The end user from ``X-On-Behalf-Of``: absent means the account itself (``""``).

    A present header must be 1–150 printable ASCII characters (0x20–0x7E) and not ``*``.
    """
    if value is None:
        return ""
    if (
        not 1 <= len(value) <= _MAX_END_USER
        or value == "*"
        or not (value.isascii() and value.isprintable())  # exactly 0x20-0x7E
    ):
        raise InvalidRequest(
            f"Invalid '{ON_BEHALF_OF_HEADER}' header: expected 1 to {_MAX_END_USER} printable "
            "ASCII characters, not '*'.",
            code="invalid_header",
            param=ON_BEHALF_OF_HEADER,
        )
    return value
