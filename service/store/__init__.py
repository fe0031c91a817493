"""The service's own tables (API keys, audit log, threshold policies, score runs, reviews)."""
