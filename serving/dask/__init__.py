"""Batch scoring on Dask: partitions (``partitions``), the cluster and worker state (``cluster``),
score and variant jobs (``score``, ``variants``) and the ``--dask`` option (``cli``)."""

# rows (sequences or windows) one partition holds: what one worker has in memory at a time
DEFAULT_PARTITION_ROWS = 100_000
