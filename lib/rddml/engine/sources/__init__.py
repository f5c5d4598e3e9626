"""Where datasets come from: readers and generators that run in Spark's tasks.

Text files (:mod:`~rddml.engine.sources.text`), Parquet files read with pyarrow in the
tasks (:mod:`~rddml.engine.sources.parquet`) and the distributed synthetic generators
(:mod:`~rddml.engine.sources.synthetic`). Each plans its partitions on the driver, turns
them into blocks on the executors with the engine's block cutter, and returns a cached
:class:`~rddml.engine.blocks.BlockDataset`. The formats themselves (parsing, generation)
are NumPy-only code in :mod:`rddml.data`.
"""
