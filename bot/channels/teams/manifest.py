"""The Teams app package: deploy/teams/manifest.json filled in, zipped with
its two icons, ready to upload in Teams (Apps > Manage your apps > Upload)
or the Teams admin center. Needs no botbuilder."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

ICONS = ("color.png", "outline.png")
ICON_SIZES = {"color.png": 192, "outline.png": 32}
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
PLACEHOLDER_WEBSITE = "https://www.example.org/peerbot"


class PackageError(Exception):
    """Why the package can't be built; the message is for people."""


def deploy_folder() -> Path:
    """deploy/teams in the source tree, or in the working folder."""
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        folder = base / "deploy" / "teams"
        if (folder / "manifest.json").is_file():
            return folder
    raise PackageError("can't find deploy/teams/manifest.json: run this from the peerbot folder")


def build_manifest(folder: Path, *, app_id: str, version: str, website: str) -> dict[str, Any]:
    if not GUID.fullmatch(app_id or ""):
        raise PackageError("the app id must be the bot's Microsoft app id, a GUID (PEERBOT_TEAMS_APP_ID or --app-id)")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise PackageError("the version must look like 1.0.0")
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", website):
        raise PackageError("the website must be an https:// address")
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    for name, value in (("APP_ID", app_id.lower()), ("VERSION", version), ("WEBSITE", website.rstrip("/"))):
        text = text.replace("{{" + name + "}}", value)
    return json.loads(text)


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise PackageError("an icon isn't a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def write_package(out: Path, *, app_id: str, version: str = "1.0.0", website: str = PLACEHOLDER_WEBSITE, folder: Path | None = None) -> dict[str, Any]:
    folder = folder or deploy_folder()
    manifest = build_manifest(folder, app_id=app_id, version=version, website=website)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for icon in ICONS:
            data = (folder / icon).read_bytes()
            if _png_size(data) != (ICON_SIZES[icon], ICON_SIZES[icon]):
                raise PackageError(f"{icon} must be {ICON_SIZES[icon]}x{ICON_SIZES[icon]} pixels")
            archive.writestr(icon, data)
    return manifest
