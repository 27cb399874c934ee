"""Small real DICOM files for the demo region and the tests, from pydicom's own test data.

pydicom ships a small CT slice and an MR slice; `series` turns one of them into a series of
`count` slices (new UIDs, instance numbers and slice positions, the pixels shifted a little
per slice so scrolling shows a change), with the PatientID given (the patient's fiscal code).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

SAMPLES = {"CT": "CT_small.dcm", "MR": "MR_small.dcm"}


@dataclass(frozen=True)
class SampleSeries:
    study_uid: str
    series_uid: str
    files: tuple[bytes, ...]


def series(patient_id: str, *, modality: str = "CT", count: int = 1,
           study_uid: str | None = None, patient_name: str = "DEMO^PATIENT",
           description: str = "Demo study") -> SampleSeries:
    """`count` Part 10 files of one new series (in `study_uid`, else a new study)."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    source = get_testdata_file(SAMPLES[modality])
    if source is None:
        raise RuntimeError(f"pydicom's test file {SAMPLES[modality]} is missing")
    study = study_uid or generate_uid()
    series_uid = generate_uid()
    files = []
    for index in range(count):
        ds = dcmread(source)
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = index + 1
        ds.StudyDescription = description
        ds.SeriesDescription = description
        if "ImagePositionPatient" in ds:
            position = list(ds.ImagePositionPatient)
            position[2] = float(position[2]) + 5.0 * index
            ds.ImagePositionPatient = position
            ds.SliceLocation = position[2]
        if index:  # shift the raw pixels by whole pixels (no numpy needed)
            raw = bytes(ds.PixelData)
            step = (ds.BitsAllocated // 8) * 4 * index % len(raw)
            ds.PixelData = raw[-step:] + raw[:-step]
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        files.append(out.getvalue())
    return SampleSeries(study, series_uid, tuple(files))
