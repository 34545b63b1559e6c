"""An optional per-process click buffer (SNIP_CLICK_BUFFER_SECONDS > 0).

By default every click is in Redis before its redirect is answered, so a worker
that dies loses nothing. With a buffer, a worker counts clicks in memory and
pushes them in one round trip every SNIP_CLICK_BUFFER_SECONDS: redirects get
cheaper (bench/README.md), and a hard kill (SIGKILL, out of memory) can lose at
most that many seconds of this worker's clicks. A graceful stop (SIGTERM, a
rollout) pushes what is buffered before the worker exits (gunicorn_conf.py).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("snip.clicks")


class ClickBuffer:
    def __init__(self, interval: float, push: Callable[[dict[str, int]], None]) -> None:
        self.interval = interval
        self._push = push
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._started_in_pid: int | None = None
        # A forked child must not push its parent's clicks a second time.
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def add(self, field: str) -> None:
        with self._lock:
            self._counts[field] += 1
        if self._started_in_pid != os.getpid():
            self._start()

    def flush(self) -> None:
        """Push everything buffered; on failure keep it for the next attempt."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            self._push(dict(counts))
        except Exception:
            log.exception("could not push %d buffered clicks; keeping them", sum(counts.values()))
            with self._lock:
                self._counts.update(counts)

    def _start(self) -> None:
        with self._lock:
            if self._started_in_pid == os.getpid():
                return
            self._started_in_pid = os.getpid()
        threading.Thread(target=self._run, name="snip-click-buffer", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval):
            self.flush()

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._counts = Counter()
        self._started_in_pid = None
