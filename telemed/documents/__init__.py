"""Clinical documents' adapters: the seal and signatures, the FHIR Bundle, the PDF, and the
outbox that publishes signed documents to the regional record (docs/documents.md)."""
