"""seqzoo's cache folder: ``$SEQZOO_CACHE``, else the platform's user cache folder (platformdirs; on Linux
``$XDG_CACHE_HOME/seqzoo`` or ``~/.cache/seqzoo``): folds, decompressed genomes."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a folder inside it (``cache_dir("genomes")``); not created here."""
    import platformdirs

    return Path(os.environ.get("SEQZOO_CACHE") or platformdirs.user_cache_dir("seqzoo", appauthor=False), *parts)
