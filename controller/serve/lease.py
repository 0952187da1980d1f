"""Ownership of the knobs: one client holds a lease, the others are read-only.

A lease is taken explicitly (``lease``) or implicitly by the first ``set``/``stream`` of a
client while nobody holds one. Every request from the holder renews it (the reference
client sends a heartbeat every 0.5 s); ``release`` ends it (keeping the knobs where they
are). If the holder goes silent for ``ttl_s`` the lease **expires** and the server puts the
knobs back to the values they had when the lease was taken (the instrument-side dead-man,
like the FPGA board's watchdog): a controller that crashed or was killed (kill -9) cannot
leave the column mid-run.

Pure bookkeeping, no I/O: the server reads the knob values at lease start and performs
the restore; a :class:`threading.Lock` makes it safe across the server's threads.
Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

DEFAULT_TTL_S = 5.0
MIN_TTL_S, MAX_TTL_S = 0.2, 600.0


@dataclass
class LeaseState:
    owner: str                       # client hex id
    ttl_s: float
    t_start: float
    t_seen: float
    start_values: dict[str, float] = field(default_factory=dict)  # knob values when it was taken (SI)


class Lease:
    """Who may write. ``clock``: injectable for tests."""

    def __init__(self, default_ttl_s: float = DEFAULT_TTL_S, clock=time.monotonic):
        if not MIN_TTL_S <= default_ttl_s <= MAX_TTL_S:
            raise ValueError(f"lease ttl must be in [{MIN_TTL_S}, {MAX_TTL_S}] s, got {default_ttl_s!r}")
        self.default_ttl_s = default_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self.state: LeaseState | None = None
        self.expired_count = 0

    @staticmethod
    def check_ttl(ttl) -> float:
        if not (type(ttl) in (int, float) and MIN_TTL_S <= ttl <= MAX_TTL_S):
            raise ValueError(f"lease: 'ttl_s' must be a number of seconds in [{MIN_TTL_S}, {MAX_TTL_S}], got {ttl!r}")
        return float(ttl)

    def holder(self) -> str | None:
        with self._lock:
            return self.state.owner if self.state else None

    def touch(self, client: str) -> None:
        """Any request from ``client`` renews its lease."""
        with self._lock:
            if self.state is not None and self.state.owner == client:
                self.state.t_seen = self._clock()

    def try_take(self, client: str, ttl_s: float | None, start_values: dict[str, float]) -> tuple[bool, LeaseState | None]:
        """Take the lease for ``client`` if free (or already its own: then renew, keep the
        original start values). Returns (granted, state or the other holder's state)."""
        now = self._clock()
        with self._lock:
            st = self.state
            if st is not None and st.owner != client:
                return False, st
            if st is None:
                self.state = st = LeaseState(client, ttl_s or self.default_ttl_s, now, now, dict(start_values))
            else:
                st.t_seen = now
                if ttl_s:
                    st.ttl_s = ttl_s
            return True, st

    def release(self, client: str) -> bool:
        with self._lock:
            if self.state is not None and self.state.owner == client:
                self.state = None
                return True
            return False

    def pop_expired(self) -> LeaseState | None:
        """If the lease has expired, end it and return it (the caller restores its start values)."""
        now = self._clock()
        with self._lock:
            st = self.state
            if st is not None and now - st.t_seen > st.ttl_s:
                self.state = None
                self.expired_count += 1
                return st
            return None

    def describe(self) -> dict:
        now = self._clock()
        with self._lock:
            st = self.state
            if st is None:
                return {"held": False}
            return {"held": True, "owner": st.owner, "ttl_s": st.ttl_s, "age_s": now - st.t_start,
                    "expires_in_s": st.ttl_s - (now - st.t_seen)}
