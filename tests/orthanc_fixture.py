"""Pytest plugin: a real Orthanc PACS (Debian's `orthanc` + `orthanc-dicomweb`) for tests.

Fixtures
- `orthanc` -> TestPacs: one Orthanc per test session on a free loopback port with its own
  configuration and storage directory (`telemed.imaging.orthanc.write_config`, the same
  configuration `make run` uses). Tests give their files new UIDs and their own PatientIDs,
  so they do not see each other's studies. `pacs.upload(files)` stores Part 10 files through
  Orthanc's own REST API (fixture set-up, not the code under test).
- `pacs_settings`: the `settings` fixture plus DICOMWEB_URL pointing at it.

Without Orthanc the tests that use these fixtures fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from telemed.imaging.orthanc import (
    INSTALL_HINT,
    dicomweb_root,
    find_dicomweb_plugin,
    find_orthanc,
    write_config,
)
from telemed.settings import Settings
from tests.helpers.net import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class TestPacs:
    """A running Orthanc: its HTTP port and DICOMweb root."""

    __test__ = False
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return dicomweb_root(self.port)

    def upload(self, files: tuple[bytes, ...] | list[bytes]) -> None:
        for part10 in files:
            request = urllib.request.Request(f"{self.base}/instances", data=part10,
                                             method="POST",
                                             headers={"Content-Type": "application/dicom"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 200


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPacs]:
    binary, plugin = find_orthanc(), find_dicomweb_plugin()
    if binary is None or plugin is None:
        what = f"Orthanc with its DICOMweb plugin ({INSTALL_HINT})"
        if IN_CI:
            pytest.fail(f"{what} is not available, and CI=true requires it")
        pytest.skip(f"{what} is not available")
    directory = tmp_path_factory.mktemp("orthanc")
    port = free_port()
    config = write_config(directory, port, plugin)
    log = (directory / "orthanc.log").open("wb")
    process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not _answers(f"{dicomweb_root(port)}/studies?limit=1"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Orthanc did not start: {(directory / 'orthanc.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield TestPacs(port, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def pacs_settings(settings: Settings, orthanc: TestPacs) -> Settings:
    return settings.model_copy(update={"dicomweb_url": orthanc.dicomweb_url})


def down_pacs_url() -> str:
    """A DICOMweb root on a loopback port nobody listens on (a PACS that is down)."""
    return dicomweb_root(free_port())


__all__ = ["TestPacs", "down_pacs_url", "orthanc", "pacs_settings"]
