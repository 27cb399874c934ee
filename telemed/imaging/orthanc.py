"""A private Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) for the demo region and tests.

The platform itself speaks DICOMweb only (`telemed.imaging.dicomweb`); this module just
writes a configuration (its own storage directory, loopback HTTP port, no DICOM listener,
the DICOMweb plugin at `/dicom-web/`) and finds the binary, so `make run` and the test
fixture start the same PACS. `python -m telemed.imaging.orthanc DIR PORT` runs one in the
foreground (what `scripts/run.sh` does when Orthanc is installed).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

PLUGIN_PLACES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
INSTALL_HINT = "apt-get install orthanc orthanc-dicomweb"


def find_orthanc() -> str | None:
    """The Orthanc binary (Debian installs it in /usr/sbin), or None."""
    return shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if os.access(p, os.X_OK)), None)


def find_dicomweb_plugin() -> str | None:
    """The DICOMweb plugin's shared library, or None."""
    return next((p for p in PLUGIN_PLACES if os.path.exists(p)), None)


def write_config(directory: Path, http_port: int, plugin: str) -> Path:
    """Write an Orthanc configuration using `directory` for storage; return its path."""
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "telemed-pacs",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomServerEnabled": False,
        "DicomPort": 0,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpCompressionEnabled": False,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                     "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        "StableAge": 1,
    }
    path = directory / "orthanc.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def dicomweb_root(http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}/dicom-web"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m telemed.imaging.orthanc DIRECTORY HTTP_PORT", file=sys.stderr)
        return 2
    binary, plugin = find_orthanc(), find_dicomweb_plugin()
    if binary is None or plugin is None:
        print(f"Orthanc with its DICOMweb plugin is not installed ({INSTALL_HINT})",
              file=sys.stderr)
        return 3
    config = write_config(Path(argv[0]).resolve(), int(argv[1]), plugin)
    os.execv(binary, [binary, "--logdir=" + str(config.parent), str(config)])
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
