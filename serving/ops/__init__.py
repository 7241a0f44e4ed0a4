"""The operations, each written once: ``score``, ``variants``, ``annotate`` and ``attribute``.

Each is a driver over typed settings (a dataclass) and an executor (``executors``: in this
process, a seqzoo server, or a Dask cluster). The driver reads records with the one readers,
cuts them into items, hands each to its task through ``executor.map`` and writes the results in
input order with the one writers. The CLI, the Python API and the server call the drivers;
nothing else knows where the computing happens.
"""

# rows (sequences or windows) one score task holds: what one worker has in memory at a time
DEFAULT_PARTITION_ROWS = 100_000
# a part of a folder output (one per task, in input order; ``_SUCCESS.json`` when complete)
PART = "part-{:05d}.parquet"
# what seqzoo attribute writes: integrated gradients, the input gradient, in-silico mutagenesis
ATTRIBUTE_METHODS = ("ig", "saliency", "ism")
