"""Ingestion of departmental CSV extracts: catalogue, reader, and the transactional run.

Submodules are imported by name (`features.ingest.run`, ...); nothing is loaded here.
"""
