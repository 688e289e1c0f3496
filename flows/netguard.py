"""Refuse connections to addresses outside the public internet, at the moment of connecting.

A news crawler follows URLs and redirects that strangers wrote.  Any of them
may point at ``127.0.0.1``, a private network or a cloud metadata endpoint
(``169.254.169.254``).  The guard sits in the connection step itself (an
httpcore network backend): the host is resolved, *every* address it resolves
to must be public — or inside a network the source explicitly allows — and
the connection then goes to the address that was checked, so neither a
redirect nor a DNS answer that changes between check and connect gets past.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressBlocked(httpcore.ConnectError):
    """The host resolves to an address the policy does not permit."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses only, plus the networks a source explicitly allows (e.g. ``127.0.0.0/8``)."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in network for network in self.allowed):
            return True
        # is_global is False for loopback, private, link-local (cloud metadata), shared (100.64/10),
        # reserved, unspecified and documentation ranges; multicast is global for some ranges
        return address.is_global and not address.is_multicast


def _default_inner_backend() -> httpcore.AsyncNetworkBackend:
    return httpcore.AnyIOBackend()


#: Where a checked connection is finally opened. Tests replace it with a backend that fails loudly
#: on anything outside 127.0.0.0/8, so a broken guard fails the test instead of reaching the network.
make_inner_backend: Callable[[], httpcore.AsyncNetworkBackend] = _default_inner_backend


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        found.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(found)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address against the policy, then connects to a checked address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = make_inner_backend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        refused = [a for a in addresses if not self._policy.permits(a)]
        if refused or not addresses:
            raise AddressBlocked(
                f"{host} resolves to {', '.join(map(str, refused or addresses))}, outside the public internet "
                "and outside the source's allowed_private_networks"
            )
        stream = await self._inner.connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)
        return _PooledStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked(f"unix socket {path} refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PooledStream(httpcore.AsyncNetworkStream):
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
        return _PooledStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


#: Seconds between two checks of every pooled connection for expiry (see ``_Pool``).
POOL_SWEEP_SECONDS = 1.0


class _Pool(httpcore.AsyncConnectionPool):
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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # loading the CA bundle costs ~10 ms a client; one context serves them all (SSLContext is thread-safe)
    return httpx.create_ssl_context()


def guarded_transport(policy: AddressPolicy, max_connections: int) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through ``GuardedBackend``."""
    transport = httpx.AsyncHTTPTransport(
        verify=_ssl_context(), trust_env=False, limits=httpx.Limits(max_connections=max_connections)
    )
    # httpx offers no parameter for the network backend; its pool is the documented httpcore one,
    # built here the same way with the guarded backend (httpx is pinned to 0.28.x in pyproject.toml)
    transport._pool = _Pool(
        ssl_context=_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy),
    )
    return transport
