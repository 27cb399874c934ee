"""A non-editable install into a fresh virtualenv serves the web assets and migrations."""

from __future__ import annotations

import configparser
import importlib.metadata as metadata
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _declared_closure(name: str) -> set[str]:
    """The distributions `name` needs, as declared: its requirements without extras, their
    requirements (with the extras asked for), and so on."""
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(name, ())]
    while todo:
        dist_name, extras = todo.pop()
        key = canonicalize_name(dist_name)
        new = {"", *extras} - seen.get(key, set())
        if not new:
            continue
        seen.setdefault(key, set()).update(new)
        for text in metadata.distribution(dist_name).requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in new):
                todo.append((req.name, tuple(req.extras)))
    return set(seen) - {canonicalize_name(name)}


def _link_dependencies(site_packages: Path, names: set[str]) -> None:
    """Link into `site_packages` what the distributions `names` installed in this
    environment (their packages, modules, native libraries and metadata) and nothing else:
    an import of anything undeclared fails in the new environment as after a real install."""
    for name in names:
        dist = metadata.distribution(name)
        for top in {file.parts[0] for file in dist.files or []}:
            target = site_packages / top
            if top == ".." or top.endswith(".pth") or target.is_symlink():
                continue
            target.symlink_to(Path(str(dist.locate_file(top))))


def test_every_package_is_declared() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = set(config["options"]["packages"].split())
    found = {
        ".".join(p.parent.relative_to(ROOT).parts).replace("web", "telemed_web", 1)
        if p.parent.relative_to(ROOT).parts[0] == "web"
        else ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("telemed", "devices", "web")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found == declared


def test_non_editable_install_serves_web_assets(tmp_path: Path) -> None:
    """pip builds the wheel and installs it, without `-e`, in a new virtualenv. The declared
    dependencies (install_requires, closed over their own requirements) are linked from this
    environment rather than downloaded and unpacked again (half a minute): `make venv`
    installs them from the same declaration, and an undeclared one is missing here."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir),
                                                             "platbase": str(env_dir)}))
    assert site_packages.is_dir(), site_packages
    _link_dependencies(site_packages, _declared_closure("telemed"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", str(ROOT)],
        check=True, cwd=tmp_path, timeout=600,
    )
    script = textwrap.dedent(
        """
        import asyncio, sys, pathlib
        from aiohttp.test_utils import TestClient, TestServer
        import telemed, telemed.webroot
        from telemed.app import create_app
        from telemed.db import migrate
        from telemed.settings import load_settings

        root = telemed.webroot.web_root()
        assert root.resolve().is_relative_to(pathlib.Path(sys.prefix).resolve()), root
        assert "site-packages" in str(root), root
        db = pathlib.Path("installed.db").resolve()
        migrate.upgrade(f"sqlite+aiosqlite:///{db}")
        settings = load_settings(env="test", data_dir=".", secret_key="x" * 40,
                                 database_url=f"sqlite+aiosqlite:///{db}")

        async def main():
            client = TestClient(TestServer(create_app(settings)))
            await client.start_server()
            try:
                page = await client.get("/login")
                assert page.status == 200, page.status
                html = await page.text()
                assert "<form" in html
                css = await client.get("/static/app.css")
                assert css.status == 200, css.status
            finally:
                await client.close()

        asyncio.run(main())
        print("installed-ok")
        """
    )
    result = subprocess.run(
        [str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed-ok" in result.stdout
    assert sys.prefix not in result.stdout
