"""Service test fixtures: `served_world` lives in tests/conftest.py (notebook tests share it)."""
