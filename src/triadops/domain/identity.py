"""Who is acting: a principal (person, service or agent) and the roles it holds now."""

from __future__ import annotations

from pydantic import BaseModel, Field

from triadops.domain.enums import Authority, Role
from triadops.domain.principals import PrincipalName


class Identity(BaseModel):
    """A principal acting with the roles of one credential (a token, or the local CLI)."""

    model_config = {"frozen": True}

    name: PrincipalName
    """The principal's normalised name: what separation of duties counts."""
    roles: frozenset[Role]
    token: str | None = Field(default=None, max_length=64)
    """The token's name when the principal acts through one."""

    def holds(self, authority: Authority | Role) -> bool:
        """True when the identity may act under this authority."""
        return Role(authority.value) in self.roles


ALL_ROLES = frozenset(Role)
