"""URL normalisation and the deduplication key.

``normalize_url`` is what we store as a canonical URL: courlan's
normalisation (lower-case host, default ports and tracking parameters such
as ``utm_*``, ``fbclid``, ``gclid``, ``mc_cid`` dropped) without the
fragment.  ``url_key`` is the stricter key rows are upserted on: the same
article reached through ``www.``/``m.``/``amp.`` hosts, an AMP path, plain
http or a missing trailing slash folds to one key.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan

from extractors.errors import InvalidURL

_FOLDED_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_AMP_PATH = re.compile(r"(?:/amp/?|\.amp(?:\.html)?|/amp\.html)$", re.IGNORECASE)
_AMP_QUERY = re.compile(r"(?:^|&)(?:amp(?:=1|=true)?|outputType=amp)(?=&|$)", re.IGNORECASE)


def normalize_url(url: str, base: str | None = None) -> str:
    """Absolute, normalised http(s) URL without fragment; raises InvalidURL."""
    raw = (url or "").strip()
    try:
        if base:
            raw = urljoin(base, raw)
        parts = urlsplit(raw)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidURL(url, "not an absolute http(s) URL")
        cleaned = courlan.normalize_url(raw)
        return urlunsplit(urlsplit(cleaned)._replace(fragment=""))
    except ValueError as exc:  # urllib and courlan raise ValueError on malformed netlocs ("http://[::1/")
        raise InvalidURL(url, f"malformed URL: {exc}") from exc


def url_key(url: str) -> str:
    """The deduplication key for an already normalised URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for prefix in _FOLDED_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = _AMP_QUERY.sub("", parts.query).strip("&")
    return urlunsplit(("https", host, path, query, ""))


def is_http_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a URL we could fetch as written (``None`` when it is): checked strictly, as a
    configuration file's URLs are, so that a typo stops the file from loading instead of failing later."""
    if _UNSAFE_IN_URL.search(url):
        return "it contains a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "it is not an http(s) URL"
    host = parts.hostname
    if not host:
        return "it has no host"
    if port == 0:
        return "port 0 cannot be connected to"
    if not host.startswith("[") and ":" not in host:
        try:
            host.encode("idna")
        except UnicodeError:
            return f"its host {host!r} is not a valid host name"
        if any(not label for label in host.rstrip(".").split(".")):
            return f"its host {host!r} has an empty label"
    return None
