"""Who is asking a service to act: passed explicitly to every link operation.

Today an actor is an API key (or nobody, when anonymous creation is allowed).
Ownership (a user owning links and keys) extends this class and
``snip.services.links.authorize``; the HTTP handlers only build the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from snip.models import ApiKey


@dataclass(frozen=True)
class Actor:
    key_id: int | None = None

    @classmethod
    def from_key(cls, key: ApiKey | None) -> Actor:
        return cls(key_id=key.id if key is not None else None)


ANONYMOUS = Actor()
