"""The one place zoo opens HTTP(S) connections: proxies, CA bundle, timeouts, and the offline switch.

Environment (docs/hub.md): the standard proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, read by
urllib), SSL_CERT_FILE or REQUESTS_CA_BUNDLE for a custom CA bundle, ZOO_HTTP_TIMEOUT (seconds per socket
operation, default 30) and ZOO_HTTP_RETRIES (default 3). ZOO_OFFLINE/HF_HUB_OFFLINE forbid every call.
"""

from __future__ import annotations

import ssl
import urllib.request
from functools import lru_cache
from http.client import HTTPResponse

from zoo import __version__, config
from zoo.errors import OfflineError

USER_AGENT = f"zoo/{__version__}"


@lru_cache(maxsize=4)
def _ssl_context(cafile: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _opener() -> urllib.request.OpenerDirector:
    # Built per call (cheap) so that proxy and CA variables changed at run time are honoured;
    # ProxyHandler() with no argument reads the proxy variables (and NO_PROXY) from the environment.
    https = urllib.request.HTTPSHandler(context=_ssl_context(config.ca_bundle()))
    return urllib.request.build_opener(urllib.request.ProxyHandler(), https)


def retry_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt + 1`: exponential, capped."""
    return min(0.25 * 2**attempt, 4.0)


def is_transient_status(code: int) -> bool:
    """HTTP statuses worth a retry: server errors, timeouts, rate limits (a 404 or 403 will not change)."""
    return code >= 500 or code in (408, 429)


def ensure_online(what: str) -> None:
    if config.offline():
        raise OfflineError(f"offline mode is on (ZOO_OFFLINE/HF_HUB_OFFLINE): refusing to fetch {what}")


def open_url(
    url: str, *, headers: dict[str, str] | None = None, token: str | None = None, method: str = "GET"
) -> HTTPResponse:
    """Open `url` (redirects followed). A bearer `token` is never forwarded to a redirect target."""
    ensure_online(url)
    request = urllib.request.Request(
        url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})}
    )
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    return _opener().open(request, timeout=config.http_timeout())
