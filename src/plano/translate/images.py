"""Image sources as upstream APIs want them: inline bytes (base64 + media type) or a URL."""

from __future__ import annotations

from typing import Final

from plano import ir
from plano.errors import BadRequest

_EXT_TYPES: Final = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}


def inline(image: ir.Image) -> tuple[str, str] | None:
    """(media type, base64 data) when the image is inline or a base64 `data:` URL, else None."""
    if image.data is not None:
        return image.media_type or "image/png", image.data
    url = image.url or ""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise BadRequest(
            "image data URLs must be base64 (data:<type>;base64,<data>)", param="messages"
        )
    return head[: -len(";base64")] or "image/png", data


def media_type_of_url(url: str) -> str:
    """A best guess of an image URL's media type from its extension (default image/jpeg)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _EXT_TYPES.get(ext, "image/jpeg")
