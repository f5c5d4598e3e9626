"""Choosing the execution backend: Spark RDDs, or the DataFrame API only.

Databricks "dedicated" clusters (and any classic PySpark session) have a
SparkContext, so the RDD path of :mod:`rddml.engine.blocks` works there. Standard (shared)
access mode and Serverless compute run Spark Connect: the notebook's ``spark`` is a
client session, ``spark.sparkContext`` raises, and only the DataFrame API exists.
The DataFrame backend (:class:`rddml.engine.frames.FrameDataset`)
runs the same iterations with ``mapInArrow`` partial aggregates instead.

Rules of :func:`resolve_backend`:

==================  ===========================  ====================================
``backend``         data                         result
==================  ===========================  ====================================
``"auto"``          Spark Connect DataFrame, or  ``"dataframe"``
                    a DataFrame whose session
                    has no usable SparkContext
``"auto"``          anything else                ``"rdd"`` (the default where RDDs
                                                 exist; RDDs and BlockDatasets only
                                                 run there)
``"rdd"``           Connect DataFrame            error: there is no SparkContext
``"rdd"``           anything else                ``"rdd"``
``"dataframe"``     any DataFrame                ``"dataframe"``
``"dataframe"``     RDD or BlockDataset          error (see below)
==================  ===========================  ====================================

An RDD with ``backend="dataframe"`` is an error rather than a silent conversion:
RDDs only exist where the RDD backend works, and turning an RDD of tuples into a
DataFrame would infer a schema row by row and lose the RDD path's per-element
error messages. Convert explicitly with ``spark.createDataFrame`` if you really
want the DataFrame path on RDD data.

Examples
--------
>>> resolve_backend(object(), "rdd")
'rdd'
>>> resolve_backend(df, "auto")  # doctest: +SKIP
'dataframe'
"""

from __future__ import annotations

from typing import Any

from rddml.errors import InvalidParameterError
from rddml.params import check_choice

BACKENDS = ("auto", "rdd", "dataframe")


def is_rdd(data: Any) -> bool:
    """True for a PySpark RDD (checked without importing Spark eagerly)."""
    return any(c.__name__ == "RDD" and c.__module__.startswith("pyspark")
               for c in type(data).__mro__)


def is_dataframe(data: Any) -> bool:
    """True for a classic or Spark Connect DataFrame."""
    return any(c.__name__ == "DataFrame" and c.__module__.startswith("pyspark.sql")
               for c in type(data).__mro__)


def is_connect_dataframe(data: Any) -> bool:
    """True for a Spark Connect DataFrame (checked by class, without importing Spark)."""
    return is_dataframe(data) and any(
        c.__module__.startswith("pyspark.sql.connect") for c in type(data).__mro__
    )


def has_spark_context(df: Any) -> bool:
    """True when ``df``'s session exposes a usable SparkContext (so RDDs work).

    Spark Connect sessions raise on ``sparkContext``; older Databricks shared
    clusters expose a classic session whose JVM access is blocked, which raises too.
    Any failure counts as "no SparkContext".
    """
    if is_connect_dataframe(df):
        return False
    try:
        sc = df.sparkSession.sparkContext
        return sc is not None and getattr(sc, "_jsc", None) is not None
    except Exception:  # whatever the platform raises means "no RDDs here"
        return False


def resolve_backend(data: Any, backend: str) -> str:
    """``"rdd"`` or ``"dataframe"``: where a fit (or evaluation) of ``data`` runs.

    Parameters
    ----------
    data : DataFrame, RDD, BlockDataset or other
        What the estimator received. Types other than Spark's resolve to ``"rdd"``
        so that the estimator's own input check reports them.
    backend : {"auto", "rdd", "dataframe"}
        The estimator's ``backend`` parameter.

    Returns
    -------
    str
        ``"rdd"`` or ``"dataframe"``.

    Raises
    ------
    InvalidParameterError
        For an unknown ``backend``, ``backend="rdd"`` with a DataFrame whose session has
        no SparkContext, or ``backend="dataframe"`` with data that is not a DataFrame.

    Examples
    --------
    >>> resolve_backend([[0.0, 1.0]], "auto")
    'rdd'
    """
    check_choice("backend", backend, BACKENDS)
    dataframe = is_dataframe(data)
    if backend == "dataframe":
        if not dataframe:
            kind = "an RDD" if is_rdd(data) else f"a {type(data).__name__}"
            raise InvalidParameterError(
                f"The 'backend' parameter 'dataframe' needs a pyspark DataFrame, got {kind}. "
                "Use backend='auto' or 'rdd' for RDDs and BlockDatasets, or convert the data "
                "with spark.createDataFrame(...)."
            )
        return "dataframe"
    if dataframe and not has_spark_context(data):
        if backend == "rdd":
            raise InvalidParameterError(
                "The 'backend' parameter 'rdd' needs a SparkContext, but this DataFrame's "
                "session has none (Spark Connect: Databricks Standard/shared access mode or "
                "Serverless). Use backend='auto' or 'dataframe'."
            )
        return "dataframe"
    return "rdd"
