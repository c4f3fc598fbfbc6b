"""HTTP route serving the local store's presigned downloads.

S3 serves its own presigned URLs; this route exists for the local directory store,
whose :meth:`~arbitral.storage.local.LocalObjectStore.presigned_url` points here.
The signature (key, expiry, file name) is the only authorisation: the URL is a
short-lived capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from arbitral.auth.guards import public
from arbitral.storage.errors import InvalidKey, ObjectNotFound, UrlExpired, UrlSignatureInvalid
from arbitral.storage.local import LocalObjectStore
from arbitral.storage.signing import DOWNLOAD_PATH, content_disposition

OCTET_STREAM = "application/octet-stream"


@get(
    f"{DOWNLOAD_PATH}/{{key:path}}",
    media_type=OCTET_STREAM,
    summary="Download a stored object through a presigned URL",
    tags=["storage"],
    opt=public(),  # the URL's signature is the authorisation: a short-lived capability
)
async def download_object(
    request: Request[Any, Any, Any],
    key: FromPath[Path],
    expires: FromQuery[str] = "",
    sig: FromQuery[str] = "",
    filename: FromQuery[str | None] = None,
) -> Stream:
    """Stream the object if the URL's signature is valid and unexpired (403 otherwise)."""
    store = request.app.state.object_store
    if not isinstance(store, LocalObjectStore):
        raise NotFoundException()  # S3 presigned URLs point at the bucket, not here
    object_key = str(key).lstrip("/")
    try:
        info = await store.authorize_download(
            object_key, expires=expires, sig=sig, filename=filename
        )
    except (InvalidKey, ObjectNotFound):
        raise NotFoundException() from None
    except UrlExpired:
        raise PermissionDeniedException("the download link has expired") from None
    except UrlSignatureInvalid:
        raise PermissionDeniedException("the download link is not valid") from None
    headers = {
        "Content-Length": str(info.size),
        "ETag": f'"{info.sha256}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    return Stream(store.open(object_key), media_type=OCTET_STREAM, headers=headers)


def storage_routes() -> list[BaseRouteHandler]:
    """The storage context's route handlers, for ``create_app``."""
    return [download_object]
