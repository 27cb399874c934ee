"""Imaging: the DICOMweb client the platform talks to a PACS with (docs/teleconsult.md).

Only DICOMweb (QIDO-RS, WADO-RS, STOW-RS) is spoken, so any PACS with DICOMweb can take
Orthanc's place. The browser never talks to the PACS: `telemed.services.imaging` checks the
patient's access rules and audits, and the API proxies what a participant may see.
"""
