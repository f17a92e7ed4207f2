"""Ingest: mentions read from the network become tickets (reader, composer, writers)."""
