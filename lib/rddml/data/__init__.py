"""Getting data in: synthetic generators (``make_blobs``, ``make_classification``,
written in parallel on the executors), readers of the write-ups' text formats with
file:line errors (:mod:`~rddml.data.text`), a Parquet reader that reads the files with
pyarrow in the tasks (:func:`~rddml.data.parquet.read_parquet`), and reference datasets."""
