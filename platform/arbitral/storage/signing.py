"""Short-lived download URLs for the local store, signed with HMAC-SHA256.

A URL carries ``expires`` (a Unix time), ``sig`` (the hex HMAC) and, when the
download must be offered under a file name, ``filename``. The signature covers the
object key, the expiry and the file name, so none of them can be changed. The HMAC
key is derived from the platform's secret key for this one purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

from arbitral.storage.errors import UrlExpired, UrlSignatureInvalid

MAX_EXPIRES_IN = 7 * 24 * 3600  # the longest an S3 presigned URL may live, too
DOWNLOAD_PATH = "/storage/objects"
_PURPOSE = b"arbitral/storage/presigned-url/v1"


class UrlSigner:
    """Sign and verify ``(key, expires, filename)`` triples."""

    def __init__(self, secret_key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret_key) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes long")
        self._key = hmac.new(secret_key, _PURPOSE, hashlib.sha256).digest()
        self._clock = clock

    def signature(self, key: str, expires: int, filename: str | None) -> str:
        message = json.dumps([key, expires, filename], ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def sign(self, key: str, *, expires_in: int, filename: str | None = None) -> dict[str, str]:
        """The query parameters of a URL for ``key`` valid for ``expires_in`` seconds."""
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")
        expires = int(self._clock()) + expires_in
        params = {"expires": str(expires)}
        if filename:
            params["filename"] = filename
        params["sig"] = self.signature(key, expires, filename or None)
        return params

    def url(
        self, public_url: str, key: str, *, expires_in: int, filename: str | None = None
    ) -> str:
        query = urlencode(self.sign(key, expires_in=expires_in, filename=filename))
        return f"{public_url.rstrip('/')}{DOWNLOAD_PATH}/{quote(key)}?{query}"

    def verify(self, key: str, *, expires: str, sig: str, filename: str | None) -> None:
        """Raise :class:`UrlSignatureInvalid` or :class:`UrlExpired` unless the URL is good."""
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            raise UrlSignatureInvalid("malformed expiry")
        expected = self.signature(key, int(expires), filename or None)
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8", "replace")):
            raise UrlSignatureInvalid("bad signature")
        if int(expires) < self._clock():
            raise UrlExpired("the download link has expired")


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition for ``filename`` (RFC 6266, RFC 8187)."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
