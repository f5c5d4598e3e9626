"""Getting data in: synthetic generators (``make_blobs``, ``make_classification``,
written in parallel on the executors), readers of the write-ups' text formats with
file:line errors (:mod:`~rddml.data.text_format`), a Parquet reader that reads the files with
pyarrow in the tasks (:func:`~rddml.engine.sources.parquet.read_parquet`), and reference datasets."""
