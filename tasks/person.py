"""The person a use case is for: who they are on the register and the roles their grade gives.

webui builds one per request (the signed-in member of staff, or the holder of a person's API token);
the use cases in tasks/ read only these fields of it.
"""

from __future__ import annotations

from typing import Protocol


class Person(Protocol):
    """A member of staff acting or reading: their username, roles, register id and team."""

    @property
    def username(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def staff_id(self) -> int: ...

    @property
    def team_id(self) -> int | None: ...
