"""The httpx and httpcore internals newsflow relies on, in one place.

httpx gives no parameter for a transport's network backend, and httpcore's pool offers no hook for its
assignment pass, so newsflow reaches past their public APIs here, and only here:

- ``install_pool`` assigns ``httpx.AsyncHTTPTransport._pool`` (httpx 0.28) with a pool built as httpx
  builds its own, around the guarded network backend.  Upstream: httpx has no public way to set the
  network backend (encode/httpx discussion #3180; pull request #3749 would add one).
- ``Pool`` overrides httpcore 1.0's ``AsyncConnectionPool._assign_requests_to_connections`` and reads
  its ``_connections``, ``_requests``, ``_http2``, ``_max_connections`` and
  ``_max_keepalive_connections``.  Upstream: the pool re-offers a connection given to a request that has
  not started (encode/httpcore #822, #1110) and its pass is quadratic in the pool's size (#1035).
- ``PooledStream`` answers the pool's readability check with ``httpcore._utils.is_socket_readable``.

``tests/test_library_contracts.py`` fails, naming what moved, when an upgrade changes any of these;
httpx and httpcore are pinned to their minor versions in pyproject.toml.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable


class PooledStream(httpcore.AsyncNetworkStream):
    """A connection's stream whose "is it readable?" answer costs one poll.

    httpcore asks it of every idle pooled connection each time a request starts or ends; anyio's stream
    looks the socket up through its typed-attribute table each time, which made that check about
    half of httpx's time per request on a keep-alive pool.  The socket is looked up once here.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return PooledStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


#: Seconds between two checks of every pooled connection for expiry (see ``Pool``).
POOL_SWEEP_SECONDS = 1.0


class Pool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, with cheaper bookkeeping.

    The pool assigns requests to connections in a pass over both, made whenever a request starts or
    ends.  httpcore 1.0's pass costs more than it needs to on a busy keep-alive pool, where a run's
    conditional requests (304s) spent half their CPU:

    - it gives an idle HTTP/1.1 connection to a request without reserving it: until that request
      starts on it, the connection still looks idle, the next request is given it too, finds it busy
      (``ConnectionNotAvailable``) and goes round again, about three passes per request;
    - it asks every connection whether it has expired, which for an idle one is a ``poll`` of its
      socket (has the server closed it?) that also gives up the GIL;
    - for every idle connection it builds a list over all connections only to take its length.

    Here a connection given to a request that has not started is not offered again, a connection is
    asked whether it expired when it is about to carry a request, and the whole pool at most once per
    ``POOL_SWEEP_SECONDS`` (an expired connection nobody picks is closed that much later).  ~25% less
    CPU per conditional request.  Otherwise the decisions are httpcore's, in its order; its request and
    connection objects are used as its own pass uses them (httpcore is pinned to 1.0.x in pyproject.toml).
    """

    _next_sweep = 0.0

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + POOL_SWEEP_SECONDS
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif (sweep and connection.has_expired()) or (
                connection.is_idle() and len(self._connections) > self._max_keepalive_connections
            ):
                self._connections.remove(connection)
                closing.append(connection)
        # an HTTP/2 connection carries several requests at once; an HTTP/1.1 one, one at a time
        taken = set() if self._http2 else {id(r.connection) for r in self._requests if r.connection is not None}
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            free = [c for c in self._connections if id(c) not in taken]
            chosen = None
            for candidate in free:
                if candidate.can_handle_request(origin) and candidate.is_available():
                    if not sweep and candidate.has_expired():
                        self._connections.remove(candidate)
                        closing.append(candidate)
                        continue
                    chosen = candidate
                    break
            if chosen is None:
                if len(self._connections) >= self._max_connections:
                    idle = next((c for c in free if c.is_idle() and c in self._connections), None)
                    if idle is None:
                        continue  # the request waits for a connection to come free
                    self._connections.remove(idle)
                    closing.append(idle)
                chosen = self.create_connection(origin)
                self._connections.append(chosen)
            pool_request.assign_to_connection(chosen)
            if not self._http2:
                taken.add(id(chosen))
        return closing


def install_pool(
    transport: httpx.AsyncHTTPTransport,
    ssl_context: ssl.SSLContext,
    max_connections: int,
    backend: httpcore.AsyncNetworkBackend,
) -> None:
    """Give ``transport`` a ``Pool`` over ``backend``, built as httpx builds its own."""
    transport._pool = Pool(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=backend,
    )
