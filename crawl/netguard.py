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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from crawl._httpcore_pool import PooledStream, install_pool

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
        # every address passed the check: try them in the resolver's order (IPv6 and IPv4 alike), as a
        # browser would, so one unreachable address does not fail a host that has others
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return PooledStream(stream)
        raise failure or httpcore.ConnectError(f"{host} has no address to connect to")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked(f"unix socket {path} refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # loading the CA bundle costs ~10 ms a client; one context serves them all (SSLContext is thread-safe)
    return httpx.create_ssl_context()


def guarded_transport(policy: AddressPolicy, max_connections: int) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through ``GuardedBackend``."""
    transport = httpx.AsyncHTTPTransport(
        verify=_ssl_context(), trust_env=False, limits=httpx.Limits(max_connections=max_connections)
    )
    # httpx offers no parameter for the network backend: crawl/_httpcore_pool.py puts one in its pool
    install_pool(transport, _ssl_context(), max_connections, GuardedBackend(policy))
    return transport
