"""The reference genome a server holds (``seqzoo serve --genome FASTA``), opened once.

Two services read it: Variants builds variant windows from coordinates, Annotation scores
genome regions into tracks. Both take it from here, so one server process opens (and indexes)
its genome once.
"""

from __future__ import annotations

import logging

from seqzoo.zoo.io.genome import Genome

log = logging.getLogger(__name__)

_genome: Genome | None = None


def set_genome(path, contig_map=None, cache=None) -> Genome:
    """Open the server's reference genome (``--genome``, with ``--contig-map``)."""
    global _genome
    _genome = Genome(path, contig_map=contig_map, cache=cache)
    log.info("reference genome %s (%d contigs)", path, len(_genome.lengths))
    return _genome


def server_genome() -> Genome | None:
    """The genome set by :func:`set_genome`, or None (a server started without ``--genome``)."""
    return _genome
