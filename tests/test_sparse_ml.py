"""rddml.ml on sparse text features: Pipeline([Tokenizer, HashingTF, IDF,
rddml.ml.LogisticRegression]) from raw text to a saved and reloaded PipelineModel, against
pyspark.ml's own pipeline on the same split; rddml.ml.KMeans (cosine) on the same TF-IDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

WORDS = {
    0: ["goal", "match", "team", "score", "league", "coach", "player", "season", "win",
        "cup", "referee", "stadium"],
    1: ["stock", "market", "bank", "price", "share", "fund", "trade", "profit", "rate",
        "bond", "invest", "loss"],
}
COMMON = ["the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "with", "that"]


def documents(n: int, seed: int) -> list[tuple[str, float]]:
    """Short texts of two topics: topic words mixed with common ones (some overlap)."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        own = rng.choice(WORDS[label], size=int(rng.integers(3, 8)))
        other = rng.choice(WORDS[1 - label], size=int(rng.integers(0, 3)))
        common = rng.choice(COMMON, size=int(rng.integers(2, 6)))
        words = np.concatenate([own, other, common])
        rng.shuffle(words)
        docs.append((" ".join(words), float(label)))
    return docs


def test_text_pipeline_fits_saves_and_loads_and_matches_pyspark_ml(spark: Any,
                                                                    tmp_path: Path) -> None:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression
    from pyspark.ml.feature import IDF, HashingTF, Tokenizer

    from rddml.ml import LogisticRegression

    df = spark.createDataFrame(documents(800, 0), ["text", "label"])
    train, test = df.randomSplit([0.75, 0.25], seed=1)
    train, test = train.cache(), test.cache()

    def stages(classifier: Any) -> list[Any]:
        return [Tokenizer(inputCol="text", outputCol="words"),
                HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 12),
                IDF(inputCol="tf", outputCol="features"), classifier]

    ours = Pipeline(stages=stages(LogisticRegression(regParam=0.01, tol=1e-10))).fit(train)
    theirs = Pipeline(stages=stages(SparkLogisticRegression(regParam=0.01, tol=1e-10,
                                                            maxIter=200))).fit(train)
    model = ours.stages[-1]
    np.testing.assert_allclose(model.coefficients.toArray(),
                               theirs.stages[-1].coefficients.toArray(), atol=1e-4)

    def scored(m: Any) -> tuple[np.ndarray, float]:
        rows = m.transform(test).select("probability", "prediction", "label").collect()
        p = np.array([r["probability"][1] for r in rows])
        acc = float(np.mean([r["prediction"] == r["label"] for r in rows]))
        return p, acc

    p_ours, acc_ours = scored(ours)
    p_theirs, acc_theirs = scored(theirs)
    np.testing.assert_allclose(p_ours, p_theirs, atol=1e-4)
    assert acc_ours == acc_theirs and acc_ours > 0.8
    path = str(tmp_path / "text_model")
    ours.write().save(path)
    loaded = PipelineModel.load(path)
    p_loaded, acc_loaded = scored(loaded)
    np.testing.assert_array_equal(p_loaded, p_ours)
    assert acc_loaded == acc_ours
    train.unpersist()
    test.unpersist()


def test_ml_kmeans_cosine_on_tfidf_transforms_sparse_vectors(spark: Any) -> None:
    from pyspark.ml.feature import IDF, HashingTF, Tokenizer

    from rddml.ml import KMeans

    df = spark.createDataFrame(documents(400, 2), ["text", "label"])
    words = Tokenizer(inputCol="text", outputCol="words").transform(df)
    tf = HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 11).transform(words)
    tfidf = IDF(inputCol="tf", outputCol="features").fit(tf).transform(tf).cache()
    model = KMeans(k=2, distanceMeasure="cosine", seed=3, maxIter=20).fit(tfidf)
    rows = model.transform(tfidf).select("prediction", "label").collect()
    pred = np.array([r["prediction"] for r in rows])
    label = np.array([r["label"] for r in rows])
    # the two topics are found (up to the clusters' names)
    agreement = max(np.mean(pred == label), np.mean(pred != label))
    assert agreement > 0.9, agreement
    tfidf.unpersist()
