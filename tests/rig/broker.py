"""A Celery broker on the machine's Redis (127.0.0.1:6379) that no other deployment shares.

Two pytest-xdist workers, or two engineers on one machine, each start deployments on the same
Redis. Each :class:`RedisBroker` is kept apart three ways:

- a database index of its own, claimed with ``SET <claim key> <id> NX EX`` in DBs 15..1 and
  given back on :meth:`RedisBroker.release` (only if the claim is still ours);
- a key prefix of its own (kombu's ``global_keyprefix`` transport option, which also prefixes
  the pub/sub channels of Celery's remote control), should every DB be claimed;
- a queue name of its own (``[operators] default_queue``).

:class:`WorkerControl` is Celery's remote control from the test process: ``ping`` a worker,
make one stop or start consuming the queue (``cancel_consumer``/``add_consumer``), which is how a
test decides which worker ("pod") runs the next task.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterable
from typing import Any

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CLAIM_KEY = "abx-rig:deployment-claim"
CLAIM_TTL = 3 * 3600


def redis_reachable() -> bool:
    """A PING answered by a Redis server on 127.0.0.1:6379."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisBroker:
    """Claim with :meth:`claim`; always :meth:`release`."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:10]
        self.prefix = f"abx-{self.id}:"
        self.queue = f"abx-{self.id}"
        self.db = 0
        self._claimed = False

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.db}"

    def _client(self, db: int) -> Any:
        import redis

        return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5)

    def claim(self) -> RedisBroker:
        for db in range(15, 0, -1):
            client = self._client(db)
            try:
                if client.set(CLAIM_KEY, self.id, nx=True, ex=CLAIM_TTL):
                    self.db, self._claimed = db, True
                    return self
            finally:
                client.close()
        self.db = 0  # every DB claimed: the prefix and the queue name still keep us apart
        return self

    def env(self) -> dict[str, str]:
        """Airflow config for every process of the deployment."""
        return {
            "AIRFLOW__CELERY__BROKER_URL": self.url,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.prefix,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
        }

    def release(self) -> None:
        """Delete this broker's keys and give the DB back."""
        client = self._client(self.db)
        try:
            for key in client.scan_iter(match=f"{self.prefix}*", count=500):
                client.delete(key)
            if self._claimed and client.get(CLAIM_KEY) == self.id.encode():
                client.delete(CLAIM_KEY)
        finally:
            client.close()
        self._claimed = False


class WorkerControl:
    """Celery remote control of the deployment's workers, by hostname (``name@<broker id>``)."""

    def __init__(self, broker: RedisBroker) -> None:
        from celery import Celery

        self.queue = broker.queue
        self.app = Celery("abx-rig-control", broker=broker.url, set_as_current=False)
        self.app.conf.broker_transport_options = {"global_keyprefix": broker.prefix}
        self.app.conf.broker_connection_retry_on_startup = True

    def ping(self, hostnames: Iterable[str]) -> set[str]:
        """The hostnames among ``hostnames`` that answered."""
        replies = self.app.control.ping(destination=list(hostnames), timeout=1.0) or []
        return {host for reply in replies for host in reply}

    def consuming(self, hostname: str) -> bool | None:
        """Whether ``hostname`` consumes the queue; ``None`` when it did not answer in time."""
        replies = self.app.control.inspect(destination=[hostname], timeout=2.0).active_queues() or {}
        if hostname not in replies:
            return None
        return any(q["name"] == self.queue for q in replies[hostname])

    def set_consuming(self, hostname: str, consume: bool, timeout: float = 60) -> None:
        """Start or stop ``hostname`` consuming the queue; returns once the worker reports it does.

        Asked again until then: a busy machine can make a worker answer after the reply timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            if consume:
                self.app.control.add_consumer(self.queue, destination=[hostname], reply=True, timeout=5.0)
            else:
                self.app.control.cancel_consumer(self.queue, destination=[hostname], reply=True, timeout=5.0)
            if self.consuming(hostname) is consume:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {hostname} did not {'start' if consume else 'stop'} consuming")

    def close(self) -> None:
        self.app.close()
