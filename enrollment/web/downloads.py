"""The holder's USB-key client, offered for download: ``GET /downloads/…``.

``scripts/build-client`` writes ``certdesk_usbkey-<version>-py3-none-any.whl`` and the sdist
``certdesk_usbkey-<version>.tar.gz`` to a directory; the server offers the files found there
(``CERTDESK_CLIENT_DIR``). pip and uv read a wheel's name and version from the last part of its
URL, so the enrollment page shows the versioned path (:meth:`ClientDownloads.wheel_path`);
``/downloads/certdesk-usbkey.whl`` and ``/downloads/certdesk-usbkey.tar.gz`` are stable aliases
that redirect to the newest build. Before a build, each path answers a 404 that says so: JSON
for programs, a page for browsers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from common.errors import CertdeskError

PREFIX = "/downloads"
STABLE_WHEEL = f"{PREFIX}/certdesk-usbkey.whl"
STABLE_SDIST = f"{PREFIX}/certdesk-usbkey.tar.gz"
_VERSION = r"(?P<version>[0-9]+(?:\.[0-9]+)*)"
_FILES = {
    "wheel": re.compile(rf"^certdesk_usbkey-{_VERSION}-py3-none-any\.whl$"),
    "sdist": re.compile(rf"^certdesk[-_]usbkey-{_VERSION}\.tar\.gz$"),  # older setuptools: -
}
_TYPES = {"wheel": "application/zip", "sdist": "application/gzip"}


class ClientNotBuilt(CertdeskError, code="client_not_built", status=404):
    message = (
        "The USB-key client (certdesk-usbkey) is not offered by this server yet. RA staff or "
        "the operator can build it with scripts/build-client and set CERTDESK_CLIENT_DIR to "
        "where it was written; until then, choose another way to get your certificate on the "
        "enrollment page, or ask RA staff."
    )


@dataclass(frozen=True, slots=True)
class ClientDownloads:
    """The directory the client's builds are offered from (None: none offered)."""

    directory: Path | None

    def newest(self, kind: str) -> str | None:
        """The file name of the newest ``kind`` ("wheel" or "sdist") build there. Blocking."""
        pattern = _FILES[kind]
        if self.directory is None or not self.directory.is_dir():
            return None
        found = [
            (tuple(int(part) for part in match["version"].split(".")), entry.name)
            for entry in self.directory.iterdir()
            if (match := pattern.match(entry.name)) and entry.is_file()
        ]
        return max(found)[1] if found else None

    async def wheel_path(self) -> str | None:
        """``/downloads/<wheel>`` of the newest wheel, or None before the first build."""
        name = await asyncio.to_thread(self.newest, "wheel")
        return f"{PREFIX}/{name}" if name else None


CLIENT_DOWNLOADS = web.AppKey("client_downloads", ClientDownloads)


def _not_built(request: web.Request) -> web.StreamResponse:
    error = ClientNotBuilt()
    if "text/html" in request.headers.get("Accept", ""):
        from enrollment.web.pages import error_page

        return error_page(request, error)
    return web.json_response(error.to_json(), status=error.status)


def _stable(kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def redirect(request: web.Request) -> web.StreamResponse:
        downloads = request.config_dict[CLIENT_DOWNLOADS]
        name = await asyncio.to_thread(downloads.newest, kind)
        if name is None:
            return _not_built(request)
        raise web.HTTPFound(f"{PREFIX}/{name}", headers={"Cache-Control": "no-cache"})

    return redirect


async def download(request: web.Request) -> web.StreamResponse:
    downloads = request.config_dict[CLIENT_DOWNLOADS]
    name = request.match_info["name"]
    kind = next((kind for kind, pattern in _FILES.items() if pattern.match(name)), None)
    directory = downloads.directory
    if kind is None or directory is None:
        return _not_built(request)
    path = directory / name
    if not await asyncio.to_thread(path.is_file):
        return _not_built(request)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPES[kind],
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "public, max-age=86400, immutable",
        },
    )


def add_routes(app: web.Application, downloads: ClientDownloads) -> None:
    app[CLIENT_DOWNLOADS] = downloads
    app.router.add_get(STABLE_WHEEL, _stable("wheel"))
    app.router.add_get(STABLE_SDIST, _stable("sdist"))
    app.router.add_get(f"{PREFIX}/{{name}}", download)
