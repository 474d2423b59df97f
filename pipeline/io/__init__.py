"""Readers and writers for the formats people really have, with atomic writes."""
