"""Scores back into the CRM: field mappings, delta selection, CSV import files and a signed,
idempotent, resumable webhook push (``lifecycle export``)."""
