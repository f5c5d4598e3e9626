"""Step 4: a seeded train/test split that does not depend on partitioning.

``DataFrame.randomSplit`` draws per partition (and sorts each partition first),
so the same seed gives a different split when the data is partitioned
differently. Here each row's side is decided by a hash of the seed and the row's
stable key (``source, line``): ``xxhash64`` is deterministic across runs,
machines and Spark versions, so a row always lands on the same side for a given
seed. Each row is in the training split with probability ``train_fraction``
independently (a Bernoulli split, as ``randomSplit``), so the sizes are close to,
not exactly, 70/30.

Examples
--------
>>> train, test = train_test_split(cleaned_df, train_fraction=0.7, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rddml.errors import DataValidationError
from rddml.heart.columns import KEY_COLUMNS
from rddml.params import check_float, check_int

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: Keep 53 bits of the hash: a double represents them exactly, so u is uniform on [0, 1).
_MANTISSA = (1 << 53) - 1


def split_score(seed: int, key_columns: Sequence[str] = KEY_COLUMNS) -> Column:
    """A deterministic pseudo-random number in [0, 1) per row, from the seed and its key."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.lit(seed).cast("long"), *[F.col(c) for c in key_columns])
    return hashed.bitwiseAND(F.lit(_MANTISSA)).cast("double") / float(_MANTISSA + 1)


def train_test_split(
    df: DataFrame,
    *,
    train_fraction: float = 0.7,
    seed: int = 0,
    key_columns: Sequence[str] = KEY_COLUMNS,
) -> tuple[DataFrame, DataFrame]:
    """Split ``df`` into (train, test) by a seeded hash of each row's key.

    Parameters
    ----------
    df : DataFrame
    train_fraction : float, default=0.7
        Probability that a row goes to the training split, in (0, 1).
    seed : int, default=0
        Non-negative; the same seed and keys give the same split.
    key_columns : sequence of str
        Columns that identify a row (must be unique per row for an exact split).

    Returns
    -------
    (train, test) : tuple of DataFrame
        Same columns as ``df``.
    """
    check_float("train_fraction", train_fraction, low=0.0, high=1.0,
                low_inclusive=False, high_inclusive=False)
    check_int("seed", seed, low=0)
    missing = [c for c in key_columns if c not in df.columns]
    if missing or not key_columns:
        raise DataValidationError(
            f"train_test_split needs the row key column(s) {list(key_columns)} in the "
            f"DataFrame; missing {missing}, the DataFrame has {df.columns}."
        )
    from pyspark.sql import functions as F

    score = split_score(seed, key_columns)
    in_train = F.coalesce(score < train_fraction, F.lit(False))
    return df.filter(in_train), df.filter(~in_train)
