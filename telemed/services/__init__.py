"""Use cases over the database; every patient-data access goes through services.access."""
