"""One ``seqzoo`` command run from a benchmark script, as a user runs it: its own process in the
repository root, the JSON summary its ``--json`` flag prints last on stdout, and the wall seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def seqzoo(*args: str) -> tuple[dict, float]:
    """(the last stdout line as JSON, {} when there is none; wall seconds); a failure raises with
    the command and the end of its stderr."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "seqzoo", *args], capture_output=True, text=True, cwd=REPO,
                            check=False)
    if result.returncode:
        raise RuntimeError(f"seqzoo {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    lines = result.stdout.strip().splitlines()
    return (json.loads(lines[-1]) if lines else {}), time.perf_counter() - start
