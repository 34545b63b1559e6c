"""Who is asking a service to act: passed explicitly to every link operation.

An actor is a user, acting through an API key (the API) or a session (the
dashboard), or nobody (anonymous creation, when allowed). What a user may do is
decided by ``snip.access`` (members their own links, admins all), which
``snip.services.links.authorize`` applies; the HTTP handlers only build the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from snip.models import ApiKey, User


@dataclass(frozen=True)
class Actor:
    key_id: int | None = None
    user: User | None = None

    @classmethod
    def from_key(cls, key: ApiKey | None) -> Actor:
        if key is None:
            return cls()
        return cls(key_id=key.id, user=key.user)

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(user=user)


ANONYMOUS = Actor()
