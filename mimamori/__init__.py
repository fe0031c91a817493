"""The `mimamori` command line: the composition root, the one place that wires all packages."""

__version__ = "0.1.0"
