"""Batch scoring on Dask: partitions (``partitions``), the cluster and worker state (``cluster``),
score and variant jobs (``score``, ``variants``) and the ``--dask`` option (``cli``)."""
