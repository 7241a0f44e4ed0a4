"""Produces models: readers, RNA structure, networks, trainer, search, metrics, interpretation, export."""
