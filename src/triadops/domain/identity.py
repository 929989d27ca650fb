"""Who is acting: a person, a token or an agent, and the roles they hold."""

from __future__ import annotations

from pydantic import BaseModel, Field

from triadops.domain.enums import Authority, Role


class Identity(BaseModel):
    """An actor with a name and the roles it may exercise."""

    model_config = {"frozen": True}

    name: str = Field(min_length=1, max_length=100)
    roles: frozenset[Role]

    def holds(self, authority: Authority | Role) -> bool:
        """True when the identity may act under this authority."""
        return Role(authority.value) in self.roles


ALL_ROLES = frozenset(Role)
