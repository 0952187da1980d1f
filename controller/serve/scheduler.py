"""A fair, bounded job queue: one FIFO per client, served round-robin.

One client queuing hundreds of ``acquire`` requests cannot starve another: the
instrument takes one job from each client in turn. Each client may have at most
``per_client`` jobs waiting (the next is refused with ``BUSY``) and at most ``max_clients``
clients may have jobs waiting at once, so memory is bounded whatever the peers send.
"""

from __future__ import annotations

import collections
import threading
from typing import Any


class QueueFull(Exception):
    """The client's queue (or the table of clients) is full; the message says which."""


class FairQueue:
    def __init__(self, per_client: int = 8, max_clients: int = 64):
        self.per_client, self.max_clients = per_client, max_clients
        self._queues: "collections.OrderedDict[str, collections.deque]" = collections.OrderedDict()
        self._cv = threading.Condition()
        self.refused = 0

    def put(self, client: str, job: Any) -> None:
        with self._cv:
            q = self._queues.get(client)
            if q is None:
                if len(self._queues) >= self.max_clients:
                    self.refused += 1
                    raise QueueFull(f"{self.max_clients} clients already have requests waiting")
                q = self._queues[client] = collections.deque()
            if len(q) >= self.per_client:
                self.refused += 1
                raise QueueFull(f"this client already has {self.per_client} requests waiting; wait for their replies")
            q.append(job)
            self._cv.notify()

    def get(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """The next job, round-robin over clients; None on timeout."""
        with self._cv:
            if not self._queues and not self._cv.wait_for(lambda: bool(self._queues), timeout):
                return None
            client, q = next(iter(self._queues.items()))
            job = q.popleft()
            if q:
                self._queues.move_to_end(client)   # its next job waits behind every other client's
            else:
                del self._queues[client]
            return client, job

    def pending(self, client: str | None = None) -> int:
        with self._cv:
            if client is not None:
                return len(self._queues.get(client, ()))
            return sum(len(q) for q in self._queues.values())

    def drain(self) -> list[tuple[str, Any]]:
        with self._cv:
            out = [(c, j) for c, q in self._queues.items() for j in q]
            self._queues.clear()
            return out
