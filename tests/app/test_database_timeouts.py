"""A database that stops answering fails a request in seconds, not minutes.

A blackholed PostgreSQL (packets dropped, nothing refused) is modelled by a TCP
listener that accepts connections and never says a word: the driver's default
would wait about two minutes, holding one of the few sync workers.
"""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text

from snip import create_app
from snip.extensions import db


@pytest.fixture
def silent_listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_a_silent_database_fails_within_the_connect_timeout(silent_listener, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://snip:pw@127.0.0.1:{silent_listener}/snip")
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app()
    with app.app_context():
        started = time.monotonic()
        with pytest.raises(Exception, match="timeout"):
            db.session.execute(text("SELECT 1"))
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"waited {elapsed:.1f}s for a silent database"
