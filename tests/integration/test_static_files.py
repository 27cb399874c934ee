"""Static files: served from memory with versioned URLs, ETag revalidation and gzip."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pathlib
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed.static_files import StaticFiles


async def test_a_page_links_versioned_files_that_are_served(client: TestClient[Any, Any]
                                                            ) -> None:
    page = await (await client.get("/login")).text()
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert any(link.startswith("/static/app.css?v=") for link in links), links
    for link in links:
        resp = await client.get(link.replace("&amp;", "&"))
        assert resp.status == 200, link
        assert "immutable" in resp.headers["Cache-Control"]


async def test_a_revalidation_of_the_same_version_is_a_304(client: TestClient[Any, Any]
                                                           ) -> None:
    first = await client.get("/static/lib/page.js")
    assert first.status == 200 and first.headers["Content-Type"].startswith("text/javascript")
    etag = first.headers["ETag"]
    again = await client.get("/static/lib/page.js", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    weak = await client.get("/static/lib/page.js", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status == 304
    other = await client.get("/static/lib/page.js", headers={"If-None-Match": '"stale"'})
    assert other.status == 200 and await other.read() == await first.read()


async def test_text_is_sent_gzipped_to_who_accepts_it(client: TestClient[Any, Any]) -> None:
    plain = await client.get("/static/app.css", headers={"Accept-Encoding": "identity"},
                             auto_decompress=False)
    packed = await client.get("/static/app.css", headers={"Accept-Encoding": "gzip, br"},
                              auto_decompress=False)
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert len(await packed.read()) < len(await plain.read())
    sound = await client.get("/static/sounds/critical-alert.wav",
                             headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "Content-Encoding" not in sound.headers  # already compressed media is sent as is


@pytest.mark.parametrize("path", ["/static/../setup.cfg", "/static/%2e%2e/setup.cfg",
                                  "/static/nothing.js", "/static/", "/static/lib",
                                  "/static/lib/../../telemed/app.py"])
async def test_nothing_outside_the_static_files_is_served(client: TestClient[Any, Any],
                                                          path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404


async def test_serving_opens_no_file(client: TestClient[Any, Any],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A request cut short can leave no handle open: no file is opened per request."""
    opened: list[str] = []
    real_open = io.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    real_path_open = pathlib.Path.open

    def counting_path_open(self: pathlib.Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(pathlib.Path, "open", counting_path_open)
    for name in ("app.css", "lib/page.js", "alert-board/rows.js", "sounds/critical-alert.wav"):
        assert (await client.get(f"/static/{name}")).status == 200
    assert [path for path in opened if "static" in path] == []


def test_a_changed_file_gets_a_new_version(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    (tmp_path / ".hidden").write_text("secret")
    files = StaticFiles(tmp_path)
    first = files.url("a.js")
    assert first == files.url("a.js")
    (tmp_path / "a.js").write_text("export const a = 22;\n")
    assert files.url("a.js") != first
    assert files.asset(".hidden") is None
    with pytest.raises(KeyError):
        files.url("missing.js")
    (tmp_path / "added.css").write_text("body { color: black; }\n")  # added while running
    assert files.url("added.css").startswith("/static/added.css?v=")
    (tmp_path.parent / "outside.js").write_text("secret")
    (tmp_path / "link.js").symlink_to(tmp_path.parent / "outside.js")
    for name in ("../outside.js", "link.js", "/etc/passwd", "", "sub/../a.js", ".hidden"):
        assert files.asset(name) is None, name


async def test_the_import_map_is_allowed_by_its_hash_alone(client: TestClient[Any, Any]
                                                           ) -> None:
    resp = await client.get("/login")
    page = await resp.text()
    found = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    assert found is not None
    text = found.group(1)
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    csp = resp.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in csp and "unsafe-inline" not in csp
    imports = json.loads(text)["imports"]
    assert imports["/static/lib/page.js"].startswith("/static/lib/page.js?v=")
    assert (await client.get(imports["/static/lib/page.js"])).status == 200
    api = await client.get("/healthz")
    assert "sha256-" not in api.headers["Content-Security-Policy"]  # pages only
