"""One reader or writer per file format: FASTA, BED, output tables, and the atomic write they share."""
