"""The USB-key client offered at /downloads/: the newest build, stable aliases, a clear 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.enrollment.conftest import HOLDER, app_runtime

WHEEL_OLD = "certdesk_usbkey-0.9.0-py3-none-any.whl"
WHEEL_NEW = "certdesk_usbkey-0.10.0-py3-none-any.whl"
SDIST = "certdesk_usbkey-0.10.0.tar.gz"


def offer(data_dir: Path, *names: str) -> Path:
    directory = data_dir / "clients"
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_bytes(f"contents of {name}".encode())
    return directory


async def test_downloads_before_a_build_answer_a_clear_404(
    client: TestClient[Any, Any],
) -> None:
    for path in (
        "/downloads/certdesk-usbkey.whl",
        "/downloads/certdesk-usbkey.tar.gz",
        f"/downloads/{WHEEL_NEW}",
    ):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404, path
        body = await response.json()
        assert body["error"]["code"] == "client_not_built"
        assert "scripts/build-client" in body["error"]["message"]
    page = await client.get("/downloads/certdesk-usbkey.whl", headers={"Accept": "text/html"})
    assert page.status == 404
    assert page.content_type == "text/html"
    assert "not offered by this server yet" in await page.text()


async def test_stable_alias_redirects_to_the_newest_version(
    client: TestClient[Any, Any], data_dir: Path
) -> None:
    """0.10.0 is newer than 0.9.0: versions compare as numbers, not as text."""
    offer(data_dir, WHEEL_OLD, WHEEL_NEW, SDIST)
    alias = await client.get("/downloads/certdesk-usbkey.whl", allow_redirects=False)
    assert alias.status == 302
    assert alias.headers["Location"] == f"/downloads/{WHEEL_NEW}"
    sdist = await client.get("/downloads/certdesk-usbkey.tar.gz", allow_redirects=False)
    assert sdist.headers["Location"] == f"/downloads/{SDIST}"
    wheel = await client.get("/downloads/certdesk-usbkey.whl")
    assert wheel.status == 200
    assert wheel.content_type == "application/zip"
    assert await wheel.read() == f"contents of {WHEEL_NEW}".encode()
    assert f'filename="{WHEEL_NEW}"' in wheel.headers["Content-Disposition"]


async def test_only_client_builds_are_served_from_the_directory(
    client: TestClient[Any, Any], data_dir: Path
) -> None:
    directory = offer(data_dir, WHEEL_NEW)
    (directory / "secret.key").write_text("not for download")
    (data_dir / "certdesk.txt").write_text("outside")
    for name in ("secret.key", "..%2Fcertdesk.txt", "certdesk_usbkey-1.0-py3-none-any.whl.bak"):
        response = await client.get(f"/downloads/{name}")
        assert response.status == 404, name
        assert "not for download" not in await response.text()


async def test_enroll_page_shows_the_install_command_of_the_offered_wheel(
    client: TestClient[Any, Any], data_dir: Path
) -> None:
    runtime = app_runtime(client)
    before = await runtime.services.ra.create_enrollment(HOLDER, actor="test")
    html = await (await client.get(f"/enroll/{before.link.token}")).text()
    assert 'data-url=""' in html  # nothing offered: the page says so instead (page.js)
    offer(data_dir, WHEEL_NEW)
    created = await runtime.services.ra.create_enrollment(HOLDER, actor="test")
    html = await (await client.get(f"/enroll/{created.link.token}")).text()
    public_url = runtime.services.config.public_url.rstrip("/")
    assert f'data-url="{public_url}/downloads/{WHEEL_NEW}"' in html
    assert 'id="token-code"' in html
    assert "nothing to install" not in html.lower()
