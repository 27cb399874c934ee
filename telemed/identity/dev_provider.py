"""A development OpenID provider: panva's oidc-provider (tools/node/oidc) run by node.

Used by the test suite (a real provider, not a stub) and by `make run` (the demo citizen
signs in with "SPID / CIE"). Never for production: its login page accepts any password.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.jwk import KeySet

PROVIDER_DIR = Path(__file__).resolve().parents[2] / "tools" / "node" / "oidc"
START_TIMEOUT = 20.0


def missing_reason() -> str | None:
    """Why the development provider cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed (bash scripts/system-deps.sh test)"
    return None


def new_keys() -> KeySet:
    """A fresh RSA signing key set (one key, with a kid)."""
    return KeySet.generate_key_set("RSA", 2048, parameters={"use": "sig", "alg": "RS256"},
                                   count=1)


@dataclass
class Client:
    """A relying party registered at the provider."""

    client_id: str
    client_secret: str
    redirect_uri: str
    post_logout_redirect_uri: str

    def dump(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "redirect_uris": [self.redirect_uri],
                "post_logout_redirect_uris": [self.post_logout_redirect_uri],
                "grant_types": ["authorization_code"], "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic"}


@dataclass
class DevProvider:
    """One oidc-provider process on 127.0.0.1:`port`; restartable with new keys."""

    port: int
    workdir: Path
    clients: list[Client]
    accounts: dict[str, dict[str, str]]
    keys: KeySet = field(default_factory=new_keys)
    process: asyncio.subprocess.Process | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        path = self.workdir / f"oidc-provider-{self.port}.json"
        path.write_text(json.dumps({
            "port": self.port, "issuer": self.issuer,
            "jwks": self.keys.as_dict(private=True),
            "clients": [c.dump() for c in self.clients], "accounts": self.accounts,
        }))
        path.chmod(0o600)
        return path

    async def start(self) -> None:
        """Start node and wait until the discovery document answers."""
        config = self._write_config()
        log = (self.workdir / f"oidc-provider-{self.port}.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            "node", str(PROVIDER_DIR / "provider.mjs"), str(config),
            cwd=PROVIDER_DIR, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.issuer}/.well-known/openid-configuration"
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"oidc-provider exited; see {log.name}")
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"oidc-provider did not start; see {log.name}")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.process = None

    def sign(self, claims: dict[str, Any], *, foreign: bool = False) -> str:
        """An ID token signed with the provider's key (`foreign`: with a key it never
        published): tests forge tokens the real issuer could have signed."""
        key = (new_keys() if foreign else self.keys).keys[0]
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    async def rotate_keys(self) -> None:
        """Restart with a new signing key (the old one is gone from its JWKS)."""
        await self.stop()
        self.keys = new_keys()
        await self.start()
