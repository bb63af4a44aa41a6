"""Parametric QR codes (`/cgi-bin/qrcode/create`): a follow or scan through one tells its scene.

The scene is a product code; handlers/events.py subscribes whoever scans to that product.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.channels.api import ApiError
from bot.config import Config

MAX_TEMPORARY_DAYS = 30  # WeChat: expire_seconds at most 2,592,000
MAX_SCENE_BYTES = 64
EXTENSIONS = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png", "image/gif": "gif"}


@dataclass(frozen=True)
class QRCode:
    scene: str
    ticket: str
    url: str  # what the code encodes
    expire_seconds: int | None  # None: permanent
    image: bytes
    content_type: str

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "jpg")


def create_qrcode(client, config: Config, scene: str, days: int | None = None) -> QRCode:
    """A permanent code, or one valid `days` days, for `scene`; with its image from the showqrcode URL."""
    if not 0 < len(scene.encode("utf-8")) <= MAX_SCENE_BYTES:
        raise ValueError(f"a scene is 1 to {MAX_SCENE_BYTES} bytes")
    payload: dict = {"action_name": "QR_STR_SCENE" if days else "QR_LIMIT_STR_SCENE",
                     "action_info": {"scene": {"scene_str": scene}}}
    if days:
        if not 1 <= days <= MAX_TEMPORARY_DAYS:
            raise ValueError(f"a temporary code lasts 1 to {MAX_TEMPORARY_DAYS} days")
        payload["expire_seconds"] = days * 86400
    data = client.call("/cgi-bin/qrcode/create", payload)
    image, content_type = fetch_image(client, config, data["ticket"])
    return QRCode(scene, data["ticket"], data.get("url", ""), data.get("expire_seconds") if days else None,
                  image, content_type)


def fetch_image(client, config: Config, ticket: str) -> tuple[bytes, str]:
    """The image of a ticket from `wechat.qrcode_image_url` (no access_token needed)."""
    import requests

    try:
        response = client.http.session.get(config["wechat.qrcode_image_url"], params={"ticket": ticket},
                                           timeout=client.http.timeout)
    except requests.RequestException as exc:
        raise ApiError("transient", None, f"cannot fetch the QR code image: {type(exc).__name__}") from None
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if response.status_code != 200 or not content_type.startswith("image/"):
        raise ApiError("permanent", None, f"the QR code image answered HTTP {response.status_code} ({content_type})")
    return response.content, content_type
