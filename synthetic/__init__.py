"""A synthetic linked population of children and families, calibrated to national statistics.

It writes the departmental extracts municipalities hand over, plus a ground-truth folder that only
evaluation code reads. Production packages never import it: the same pipeline runs on real extracts.
"""
