"""The test OpenID provider's people and a way through its login page without a browser."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import Patient
from telemed.demo_sso import demo_citizens
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.services.users import create_user
from tests.conftest import PASSWORD

CLIENT_ID = "telemed-test"
CLIENT_SECRET = "telemed-test-client-secret-0123456789"

PATIENT_CODE = build_fiscal_code("Anna", "Verdi", date(1948, 5, 4), "F", "Roma")
TWOFOLD_CODE = build_fiscal_code("Paolo", "Neri", date(1975, 9, 12), "M", "Milano")
STRANGER_CODE = build_fiscal_code("Luca", "Gialli", date(1990, 1, 20), "M", "Torino")

# login at the provider -> claims (SPID's "TINIT-" form for two of them, bare for one)
CITIZENS: dict[str, dict[str, str]] = {
    "anna": {"fiscal_number": f"TINIT-{PATIENT_CODE}", "given_name": "Anna",
             "family_name": "Verdi"},
    "paolo": {"fiscal_number": TWOFOLD_CODE, "given_name": "Paolo", "family_name": "Neri"},
    "luca": {"fiscal_number": f"TINIT-{STRANGER_CODE}", "given_name": "Luca",
             "family_name": "Gialli"},
    "nocode": {"given_name": "Senza", "family_name": "Codice"},
    # a clinician with SPID level 2 and one with level 1 (the same person as "paolo")
    "paolo.l2": {"fiscal_number": TWOFOLD_CODE, "given_name": "Paolo", "family_name": "Neri",
                 "acr": "https://www.spid.gov.it/SpidL2"},
    "paolo.l1": {"fiscal_number": TWOFOLD_CODE, "given_name": "Paolo", "family_name": "Neri",
                 "acr": "https://www.spid.gov.it/SpidL1"},
    **demo_citizens(),  # giuseppe.esposito, the demo patient
}

async def portal_patient(app: web.Application, code: str, username: str) -> str:
    """A patient record with fiscal code `code` and its portal account; the user id."""
    async with app[keys.SESSIONS]() as db:
        patient = Patient(fiscal_code=code, given_name="Anna", family_name="Verdi",
                          birth_date=date(1948, 5, 4), sex="F")
        db.add(patient)
        await db.flush()
        user = await create_user(db, username=username, password=PASSWORD, role="patient",
                                 display_name="Anna Verdi", patient_id=patient.id)
        await db.commit()
        return user.id


_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


async def through_provider(authorize_url: str, login: str) -> str:
    """Log in as `login` at the provider's page; the URL it sends the browser back to."""
    # the provider's cookies are set on 127.0.0.1: an IP host needs the "unsafe" jar
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        url = authorize_url
        for _ in range(10):
            async with http.get(url, allow_redirects=False) as resp:
                if resp.status in (302, 303):
                    url = urljoin(url, resp.headers["Location"])
                    if not url.startswith(authorize_url.split("/auth")[0]):
                        return url  # leaving the provider: the callback
                    continue
                page = await resp.text()
            action = _FORM_ACTION.search(page)
            assert action, page[:500]
            async with http.post(urljoin(url, action.group(1)),
                                 data={"login": login, "password": "any", "prompt": "login"},
                                 allow_redirects=False) as resp:
                assert resp.status in (302, 303), await resp.text()
                url = urljoin(url, resp.headers["Location"])
            if not url.startswith(authorize_url.split("/auth")[0]):
                return url
        raise AssertionError("the provider never sent the browser back")


async def start_sso(client: TestClient[Any, Any]) -> str:
    """Begin a single sign-on at Telemed: the provider's authorization URL."""
    resp = await client.get("/auth/oidc/login", allow_redirects=False)
    assert resp.status == 302
    return str(resp.headers["Location"])


async def sso_sign_in(client: TestClient[Any, Any], login: str) -> tuple[Any, str]:
    """A whole single sign-on as the provider's `login`: Telemed's answer to the callback,
    and the callback URL."""
    callback = await through_provider(await start_sso(client), login)
    split = urlsplit(callback)
    resp = await client.get(f"{split.path}?{split.query}", allow_redirects=False)
    return resp, callback
