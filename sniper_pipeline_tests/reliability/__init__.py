"""Fault injection: client, ingest and whole-pipeline reliability (docs/reliability.md)."""
