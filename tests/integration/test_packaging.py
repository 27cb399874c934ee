"""A non-editable install into a fresh virtualenv serves the web assets and migrations."""

from __future__ import annotations

import configparser
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(ROOT)],
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
