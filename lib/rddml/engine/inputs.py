"""Turning what users pass to ``fit``/``predict`` into a cached engine dataset."""

from __future__ import annotations

import logging
from typing import Any

import rddml._jit as _jit
from rddml.engine.backend import BACKENDS, is_dataframe, is_rdd, resolve_backend
from rddml.engine.blocks import BlockDataset
from rddml.engine.dataset import Dataset
from rddml.engine.frames import FrameDataset
from rddml.engine.precision import DTYPES
from rddml.engine.sparse import LAYOUTS
from rddml.engine.sparse_columns import describe
from rddml.engine.storage import STORAGES
from rddml.errors import InvalidParameterError
from rddml.params import check_choice, check_int, check_optional_str, check_str_list

logger = logging.getLogger(__name__)

__all__ = ["as_dataset", "check_engine_params", "is_dataframe", "is_rdd"]


def check_engine_params(estimator: Any, *, columns: tuple[str, ...]) -> None:
    """Check the parameters every estimator hands to the engine, read from
    ``estimator``'s attributes: the optional column names ``columns`` (in that order),
    ``feature_cols``, the checkpoints (``checkpoint_dir``, ``checkpoint_interval``), and
    ``backend``, ``storage``, ``kernels``, ``dtype`` and ``layout``.

    Raises
    ------
    InvalidParameterError
        Naming the first parameter that is not valid, its value and what was expected.
    """
    for name in columns:
        check_optional_str(name, getattr(estimator, name))
    check_str_list("feature_cols", estimator.feature_cols)
    check_optional_str("checkpoint_dir", estimator.checkpoint_dir)
    check_int("checkpoint_interval", estimator.checkpoint_interval, low=1)
    check_choice("backend", estimator.backend, BACKENDS)
    check_choice("storage", estimator.storage, STORAGES)
    if estimator.kernels is not None:
        check_choice("kernels", estimator.kernels, _jit.KERNEL_MODES)
    check_choice("dtype", estimator.dtype, DTYPES)
    check_choice("layout", estimator.layout, LAYOUTS)


def as_dataset(
    data: Any,
    *,
    backend: str = "auto",
    storage: str = "auto",
    labeled: bool,
    features_col: str | None,
    feature_cols: list[str] | None,
    label_col: str | None = None,
    weight_col: str | None = None,
    layout: str = "auto",
    dtype: str = "float64",
) -> tuple[Dataset, bool]:
    """Return ``(dataset, owned)`` for ``data`` on the backend :func:`resolve_backend`
    picks; ``owned`` means the caller built it and must unpersist it.

    A dataset the user built (BlockDataset or FrameDataset) is used as it is: its
    columns and storage were chosen when it was built. ``storage`` applies to the RDD
    backend (:mod:`rddml.engine.storage`); the DataFrame backend caches with Spark
    only, so ``storage="executor"`` there is an error. ``layout`` says how the features
    are held (:mod:`rddml.engine.sparse`): ``"auto"`` picks sparse blocks for sparse
    inputs (a wide column of SparseVectors, an RDD of sparse vectors); the choice is
    logged at INFO. ``dtype`` is the precision the RDD backend stores the features in
    (:mod:`rddml.engine.precision`; a sparse block narrows its stored values); the
    DataFrame backend reads Arrow batches as float64 in every pass.
    """
    ds, owned = _as_dataset(data, backend=backend, storage=storage, labeled=labeled,
                            features_col=features_col, feature_cols=feature_cols,
                            label_col=label_col, weight_col=weight_col, layout=layout,
                            dtype=dtype)
    if owned:
        logger.info("rddml: input read as %s", describe(ds))
    return ds, owned


def _as_dataset(data: Any, *, backend: str, storage: str, labeled: bool,
                features_col: str | None, feature_cols: list[str] | None,
                label_col: str | None, weight_col: str | None,
                layout: str, dtype: str) -> tuple[Dataset, bool]:
    if isinstance(data, Dataset):
        if backend not in ("auto", data.backend):
            raise InvalidParameterError(
                f"The 'backend' parameter is {backend!r}, but the data is a "
                f"{type(data).__name__} of the {data.backend!r} backend; use backend='auto' "
                f"or {data.backend!r}."
            )
        return data, False
    resolved = resolve_backend(data, backend)
    if resolved == "dataframe" and storage == "executor":
        raise InvalidParameterError(
            "The 'storage' parameter 'executor' needs the RDD backend, but this fit runs on "
            "the DataFrame backend (Spark Connect, or backend='dataframe'); use "
            "storage='auto' or 'spark'."
        )
    if resolved == "dataframe":
        return FrameDataset.from_dataframe(
            data, features_col=features_col, feature_cols=feature_cols, label_col=label_col,
            weight_col=weight_col, layout=layout,
        ), True
    if is_rdd(data):
        return BlockDataset.from_rdd(data, labeled=labeled, storage=storage,
                                     layout=layout, dtype=dtype), True
    if is_dataframe(data):
        return BlockDataset.from_dataframe(
            data, features_col=features_col, feature_cols=feature_cols, label_col=label_col,
            weight_col=weight_col, storage=storage, layout=layout, dtype=dtype,
        ), True
    raise InvalidParameterError(
        "The 'data' argument must be a pyspark RDD, a pyspark DataFrame or an "
        f"rddml BlockDataset, got {type(data).__name__}."
    )
