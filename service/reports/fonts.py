"""The Japanese font of the reports: IPAexGothic, shipped inside the japanize-matplotlib wheel.

A fresh machine (and the service's container) has no Japanese font, and a report whose glyphs
fall back to empty boxes is useless to a reviewer. The japanize-matplotlib wheel (PyPI) carries
IPAexGothic (`fonts/ipaexg.ttf`) with its licence, so `pip install` is the whole set-up. The
same file is used three ways: matplotlib draws chart labels with it (FontProperties(fname=...)),
the browser loads it through @font-face from the service's static route, and WeasyPrint embeds
it in the PDF.

The package itself is never imported: its __init__ imports distutils (gone in Python 3.12) and
changes matplotlib's global rc. `importlib.resources.files()` would import it, so the file is
found from the package's import spec instead, which reads no code.

Licence: the IPA Font License Agreement v1.0 (OSI-approved). Serving the unmodified file to
browsers is redistribution (Article 2.6), allowed on the conditions of Article 3.2: the name and
the file stay unchanged and a copy of the agreement goes with it, which is why the static route
also serves `IPA_Font_License_Agreement_v1.0.txt` and the pages link to it. Embedding it in a
PDF for rendering that document (Article 2.5) carries no further obligation.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Final

__all__ = [
    "FONT_FAMILY",
    "FONT_FILE",
    "LICENCE_FILE",
    "FontMissingError",
    "font_directory",
    "font_path",
    "licence_path",
]

FONT_FAMILY: Final = "IPAexGothic"
FONT_FILE: Final = "ipaexg.ttf"
LICENCE_FILE: Final = "IPA_Font_License_Agreement_v1.0.txt"
_PACKAGE: Final = "japanize_matplotlib"


class FontMissingError(RuntimeError):
    """The font package is not installed (reinstall requirements.lock)."""


@lru_cache(maxsize=1)
def font_directory() -> Path:
    """The folder holding the font and its licence."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        folder = Path(location) / "fonts"
        if (folder / FONT_FILE).is_file():
            return folder
    raise FontMissingError(
        f"{FONT_FILE} not found: install japanize-matplotlib (pinned in requirements.lock), "
        "which ships the IPAexGothic font the reports use"
    )


def font_path() -> Path:
    return font_directory() / FONT_FILE


def licence_path() -> Path:
    return font_directory() / LICENCE_FILE
