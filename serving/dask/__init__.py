"""Dask: the cluster (``cluster``: connecting, submitting tasks in a bounded window). The
operations run on it through ``serving.ops.executors.Dask``."""
