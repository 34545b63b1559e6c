"""The service layer: what snip does, independent of HTTP.

Plain functions with explicit keyword arguments (in the spirit of
full-stack-fastapi-template's ``crud`` module and the Flask tutorial). They run
inside an application context, commit their own transaction, keep the link cache
in step, and return model objects or raise a ``ServiceError`` (``errors.py``) that
the HTTP layer turns into problem+json (``snip.errors``) and the CLI into a message.

- ``links``: create, get, list, update, delete and purge links (slugs, tags, reuse).
- ``stats``: click statistics of a link.
- ``keys``: API keys (create, list, revoke).

Every function that acts on links takes ``actor``: who is asking. Ownership
checks belong in ``links.authorize``, the one place all of them pass through.
"""
