"""seqzoo's cache folder: ``$SEQZOO_CACHE``, else ``~/.cache/seqzoo`` (folds, decompressed genomes)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a folder inside it (``cache_dir("genomes")``); not created here."""
    return Path(os.environ.get("SEQZOO_CACHE") or Path.home() / ".cache" / "seqzoo", *parts)
