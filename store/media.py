"""Uploaded images: checked by content (Pillow), size and pixel count; re-encoded without metadata
into the widths the pages use; stored under STORE_MEDIA_DIR with a content hash in the name so they
can be cached for a year."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

from store.config import get_settings
from store.errors import DomainError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: a big camera photo; anything larger is refused, not decoded
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
WIDTHS = (320, 640, 1200)
QUALITY = 82


class ImageRejected(DomainError):
    status_code = 422


@dataclass(frozen=True)
class StoredImage:
    key: str
    width: int
    height: int


def media_dir() -> Path:
    return Path(get_settings().media_dir)


def image_url(key: str, width: int = 640) -> str:
    best = min(WIDTHS, key=lambda w: (w < width, abs(w - width)))
    return f"/media/{key}-{best}.webp"


def image_srcset(key: str, widths: tuple[int, ...] = WIDTHS) -> str:
    return ", ".join(f"/media/{key}-{w}.webp {w}w" for w in widths)


def _open_checked(data: bytes, field: str) -> Image.Image:
    if len(data) == 0:
        raise ImageRejected("Choose an image file to upload.", field=field)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected("That image is larger than 10 MB. Please upload a smaller one.", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            fmt = probe.format
            width, height = probe.size
            if fmt not in ALLOWED_FORMATS:
                raise ImageRejected("Upload a JPEG, PNG or WebP image.", field=field)
            if width * height > MAX_PIXELS:
                raise ImageRejected(
                    "That image has too many pixels (at most 40 megapixels).", field=field
                )
            probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("That image has too many pixels (at most 40 megapixels).", field=field)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRejected("That file isn't an image we can read. Upload a JPEG, PNG or WebP.", field=field)
    return image


def store_image(data: bytes, *, field: str = "photo") -> StoredImage:
    """Validate, strip metadata, resize and save. Raises ImageRejected with a message for the form."""
    image = _open_checked(data, field)
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    key = hashlib.sha256(data).hexdigest()[:24]
    folder = media_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        target = folder / f"{key}-{width}.webp"
        if target.exists():
            continue
        copy = image.copy()
        if copy.width > width:
            copy.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        copy.save(buf, "WEBP", quality=QUALITY, method=4)  # no exif= : metadata is dropped
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(target)
    return StoredImage(key=key, width=image.width, height=image.height)


FETCH_TIMEOUT = 15.0  # seconds, for the whole download


def fetch_image(url: str, *, field: str = "Image Src") -> bytes:
    """Download a picture from a host in STORE_IMAGE_FETCH_ALLOW (never inside a write transaction):
    a timeout, no redirects (they could lead off the allow-list), at most MAX_UPLOAD_BYTES. The bytes
    still go through store_image's checks (content, size, pixel count) and are re-encoded there."""
    import httpx

    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        raise ImageRejected("Give the picture's full web address, starting https://", field=field)
    if host not in get_settings().image_fetch_hosts:
        raise ImageRejected(
            f"Pictures are only fetched from hosts listed in STORE_IMAGE_FETCH_ALLOW, and {host} is not "
            "one of them: upload the picture in the staff area instead.",
            field=field,
        )
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "image/*"}) as answer,
        ):
            if answer.status_code != 200:
                raise ImageRejected(f"{host} answered {answer.status_code} for this picture.", field=field)
            data = bytearray()
            for chunk in answer.iter_bytes():
                data += chunk
                if len(data) > MAX_UPLOAD_BYTES:
                    raise ImageRejected("That picture is larger than 10 MB.", field=field)
    except httpx.HTTPError as exc:
        raise ImageRejected(f"Could not fetch the picture from {host}: {type(exc).__name__}.", field=field)
    return bytes(data)


# Pillow's own guard: refuse decoding far beyond our limit even where we forget to check.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
