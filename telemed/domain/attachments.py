"""What an uploaded attachment is, read from its bytes (never from its name or its header).

Accepted: PDF, JPEG, PNG and DICOM Part 10. `sniff` returns the media type or None.
"""

from __future__ import annotations

from typing import Final, Literal

MediaType = Literal["application/pdf", "image/jpeg", "image/png", "application/dicom"]
MEDIA_TYPES: Final[tuple[MediaType, ...]] = (
    "application/pdf", "image/jpeg", "image/png", "application/dicom")
EXTENSIONS: Final[dict[str, str]] = {
    "application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png",
    "application/dicom": ".dcm"}
MAX_FILENAME: Final = 200


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file from its first bytes (at least 132 for DICOM)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "application/dicom"
    return None


def complete(media_type: MediaType, data: bytes) -> bool:
    """A light check that the whole file is what its start claims: a PDF ends with its
    end-of-file marker, a JPEG with EOI, a PNG with its IEND chunk (DICOM is parsed)."""
    tail = data[-1024:]
    if media_type == "application/pdf":
        return b"%%EOF" in tail
    if media_type == "image/jpeg":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if media_type == "image/png":
        return b"IEND" in data[-16:]
    return True


def clean_filename(name: str | None, media_type: MediaType) -> str:
    """A filename safe to show and to send back: no path, no control characters, bounded,
    with the extension of its real type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')
    base = base.strip(" .")[:MAX_FILENAME - 5] or "attachment"
    extension = EXTENSIONS[media_type]
    if not base.lower().endswith(extension) and not (
            media_type == "image/jpeg" and base.lower().endswith(".jpeg")):
        base += extension
    return base


def same_patient_id(dicom_patient_id: str | None, fiscal_code: str) -> bool:
    """Whether a DICOM PatientID names this patient (the fiscal code, case and blanks aside)."""
    if not dicom_patient_id:
        return False
    return dicom_patient_id.strip().upper() == fiscal_code.strip().upper()
