"""The demo's "SPID / CIE": the development OpenID provider with a demo citizen whose fiscal
code is the demo patient's (`make run` starts it when node is installed).

    python -m telemed.demo_sso --check                      # exit 1 (and why) when it cannot run
    python -m telemed.demo_sso --port 18090 --public-url http://127.0.0.1:8080

At the provider's login page the demo citizen is `giuseppe.esposito` (any password).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from telemed.demo import PATIENTS
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.identity.dev_provider import Client, DevProvider, missing_reason

CLIENT_ID = "telemed-demo"
CLIENT_SECRET = "telemed-demo-client-secret-not-for-production"


def demo_citizens() -> dict[str, dict[str, str]]:
    """The provider's accounts: each demo patient with a portal account, by username."""
    return {
        p.username: {
            "fiscal_number": "TINIT-" + build_fiscal_code(p.given, p.family, p.birth, p.sex,
                                                          p.birthplace),
            "given_name": p.given, "family_name": p.family,
        }
        for p in PATIENTS if p.username
    }


async def _serve(port: int, public_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="telemed-oidc-") as workdir:
        provider = DevProvider(
            port=port, workdir=Path(workdir),
            clients=[Client(CLIENT_ID, CLIENT_SECRET, f"{public_url}/auth/oidc/callback",
                            f"{public_url}/login")],
            accounts=demo_citizens())
        await provider.start()
        print(f"demo SPID / CIE provider at {provider.issuer} "
              f"(citizen: {', '.join(demo_citizens())}, any password)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            assert provider.process is not None
            waiter = asyncio.ensure_future(provider.process.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()
        finally:
            await provider.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemed.demo_sso")
    parser.add_argument("--check", action="store_true", help="only say whether it can run")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--public-url", default="http://127.0.0.1:8080")
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason is not None:
        print(f"the demo SPID / CIE sign-in is off: {reason}", file=sys.stderr)
        return 1
    if args.check:
        return 0
    asyncio.run(_serve(args.port, args.public_url.rstrip("/")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
