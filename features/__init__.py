"""Data foundation: ingestion, Japanese normalisation, record linkage and point-in-time features.

Imports none of Mimamori's other packages, so it can run wherever the data lives.
"""
