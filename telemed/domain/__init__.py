"""Pure clinical and wire-format rules: no I/O, no imports from other Telemed packages."""
