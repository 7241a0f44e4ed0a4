"""Write one benchmark's results into BENCHMARKS.md, in a section of its own.

Each script calls ``record(section, title, command, body)``; the section between its markers is
replaced, so re-running a benchmark refreshes its numbers and leaves the others alone. The
machine and the date are stamped from the running machine.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# seqzoo benchmarks\n\nEach section is written by the script it names; re-run the command to refresh it.\n"


def machine() -> str:
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        mem_kib = 0
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem_kib / 2**20:.0f} GiB, Python {platform.python_version()}"


def record(section: str, title: str, command: str, body: str, device: str | None = None) -> None:
    """Replace (or append) the section named ``section`` in BENCHMARKS.md."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"<!-- bench:{section} -->\n## {title}\n\n"
             f"Machine: {device or machine()}. Date: {stamp}.\nCommand: `{command}`\n\n{body.strip()}\n"
             f"<!-- /bench:{section} -->\n")
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(section)} -->.*?<!-- /bench:{re.escape(section)} -->\n",
                         re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    tmp = BENCHMARKS.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(BENCHMARKS)


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its waited-for children, MiB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024
