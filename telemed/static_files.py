"""The web's static files, served from memory.

Every file under web/static is read once at start (again when it changes on disk) with its
content hash, a gzip copy for text and its type. A request costs a dictionary lookup and a
``stat``: no file handle, no thread hand-over (aiohttp's file response opened each file in an
executor, and a request cut short at shutdown could leave the handle open), and a page render no
longer reads and hashes each file it links (``append_version`` did on every ``url_for``).
Versioned URLs (``?v=``) are cached for a year by the security-headers middleware; the ETag (the
same hash) answers revalidations with a 304. The pages carry an import map that points every ES
module at its versioned URL, so the modules a page's script imports (``./rows.js``,
``../lib/page.js``) are cached for a year too instead of being revalidated on each load; its
hash is allowed by the Content-Security-Policy (``script_src``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import mimetypes
from base64 import b64encode, urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from aiohttp import hdrs, web

PREFIX: Final = "/static/"
STATIC_FILES: web.AppKey[StaticFiles] = web.AppKey("static_files")
# Types gzip shrinks; images and sounds are compressed already.
_COMPRESSIBLE: Final = ("text/", "application/javascript", "application/json", "image/svg+xml")
_MIN_GZIP: Final = 512
_TYPES: Final = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml", ".wav": "audio/wav", ".json": "application/json",
                 ".webmanifest": "application/manifest+json"}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file as served."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    charset: str | None
    version: str
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from


def _asset(name: str, body: bytes, stamp: tuple[int, int]) -> Asset:
    suffix = Path(name).suffix.lower()
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    textual = content_type.startswith(_COMPRESSIBLE)
    packed = gzip.compress(body, mtime=0) if textual and len(body) >= _MIN_GZIP else None
    version = urlsafe_b64encode(hashlib.sha256(body).digest()).decode()[:16]
    return Asset(body=body, gzipped=packed if packed and len(packed) < len(body) else None,
                 content_type=content_type, charset="utf-8" if textual else None,
                 version=version, stamp=stamp)


class StaticFiles:
    """The files under ``root`` (hidden ones excepted), by their path relative to it."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._names = {path.relative_to(self._root).as_posix()
                       for path in self._root.rglob("*") if self._servable(path)}
        self._assets: dict[str, Asset] = {}
        self._modules = sorted(name for name in self._names if name.endswith((".js", ".mjs")))
        self._import_map: tuple[tuple[str, ...], str, str] = ((), "", "")
        for name in self._names:
            self.asset(name)
        self.import_map()

    def _servable(self, path: Path) -> bool:
        """A regular file inside the root, on no hidden path."""
        try:
            relative = path.resolve().relative_to(self._root)
        except (OSError, ValueError):
            return False
        return path.is_file() and not any(part.startswith(".") for part in relative.parts)

    def asset(self, name: str) -> Asset | None:
        """The file ``name`` as served, re-read when it changed; None when there is none.
        A file added since the start is served once it is there (a developer's new file)."""
        if name not in self._names:
            if not name or name.startswith("/") or not self._servable(self._root / name):
                return None
            self._names.add((self._root / name).resolve().relative_to(self._root).as_posix())
            if name not in self._names:
                return None  # a spelling of another name ("a/../b.js"): only its own name
        path = self._root / name
        try:
            status = path.stat()
        except OSError:
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        cached = self._assets.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            asset = _asset(name, path.read_bytes(), stamp)
        except OSError:
            return None
        self._assets[name] = asset
        return asset

    def url(self, name: str) -> str:
        """The versioned URL of ``name``; a name that is not a static file is a template bug."""
        asset = self.asset(name)
        if asset is None:
            raise KeyError(f"no static file {name!r}")
        return f"{PREFIX}{quote(name)}?v={asset.version}"

    @property
    def import_map_source(self) -> str:
        """The CSP source (``'sha256-…'``) of the import map last built: the one the page
        being answered rendered (no file is looked at again)."""
        return self._import_map[2]

    def import_map(self) -> str:
        """The pages' import map (JSON text), rebuilt when a module changed."""
        versions = tuple(self.url(name) for name in self._modules)
        if versions != self._import_map[0]:
            imports = {PREFIX + quote(name): url for name, url in zip(self._modules, versions,
                                                                      strict=True)}
            text = json.dumps({"imports": imports}, separators=(",", ":")).replace("<", "\\u003c")
            source = f"'sha256-{b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
            self._import_map = (versions, text, source)
        return self._import_map[1]

    async def handle(self, request: web.Request) -> web.Response:
        """GET/HEAD /static/{name}: the file, 304 when the browser holds this version."""
        asset = self.asset(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        etag = f'"{asset.version}"'
        headers = {hdrs.ETAG: etag, hdrs.VARY: hdrs.ACCEPT_ENCODING}
        if _matches(request.headers.get(hdrs.IF_NONE_MATCH, ""), asset.version):
            return web.Response(status=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.headers.get(
                hdrs.ACCEPT_ENCODING, "").lower():
            body = asset.gzipped
            headers[hdrs.CONTENT_ENCODING] = "gzip"
        return web.Response(body=body, content_type=asset.content_type, charset=asset.charset,
                            headers=headers)


def _matches(if_none_match: str, version: str) -> bool:
    """Whether an If-None-Match header names ``version`` (weak or strong) or is ``*``."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == f'"{version}"':
            return True
    return False


@functools.cache
def _store(root: Path) -> StaticFiles:
    """One store per directory for the process (apps built in one process share it)."""
    return StaticFiles(root)


def setup_static(app: web.Application, root: Path) -> StaticFiles:
    """Serve ``root`` under /static/ and keep the store on the app (for ``static()`` in pages)."""
    files = _store(root)
    app[STATIC_FILES] = files
    app.router.add_get(PREFIX + "{name:.+}", files.handle, name="static")
    return files
