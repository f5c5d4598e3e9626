# Databricks notebook source
# MAGIC %md
# MAGIC # rddml quickstart: k-means and logistic regression on Spark
# MAGIC
# MAGIC Runs on every Databricks access mode. On a **dedicated** (single-user) cluster the
# MAGIC estimators use Spark RDDs; on **Standard** (shared) access mode and **Serverless**
# MAGIC the notebook's `spark` is a Spark Connect session without RDDs, and rddml picks its
# MAGIC DataFrame backend (`mapInArrow` partial sums) automatically (`backend="auto"`).
# MAGIC
# MAGIC Install the wheel first (build it with `python -m build` in the repository, upload
# MAGIC it to a volume or the workspace), then restart Python:

# COMMAND ----------

# MAGIC %pip install /Volumes/main/default/libs/rddml-0.1.0-py3-none-any.whl

# COMMAND ----------

# MAGIC %md
# MAGIC ## Setup
# MAGIC The sample data ships with the repository (`data/samples/`). It is small, so it is
# MAGIC read on the driver with NumPy and handed to Spark with `createDataFrame`, which works
# MAGIC in every access mode (no DBFS or cluster file access needed).

# COMMAND ----------

import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt  # headless drivers fall back to the Agg backend
import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression
from pyspark.ml.feature import IDF, HashingTF, Tokenizer

import rddml
import rddml.ml
from rddml import KMeans, LogisticRegression


def find_data_dir() -> Path:
    """``data/samples`` of the repository: next to the working directory (a Git folder
    notebook runs in ``notebooks/``), or beside this file when run as a script."""
    given = globals().get("DATA_DIR")
    if given:
        return Path(given)
    candidates = [Path.cwd() / "data" / "samples", Path.cwd().parent / "data" / "samples"]
    if "__file__" in globals():
        candidates.append(Path(__file__).resolve().parents[1] / "data" / "samples")
    for candidate in candidates:
        if (candidate / "blobs.csv").is_file():
            return candidate
    raise FileNotFoundError(f"data/samples not found; looked in {[str(c) for c in candidates]}. "
                            "Set DATA_DIR to the folder holding blobs.csv.")


def show(obj: object) -> None:
    """``display`` on Databricks; a plain print (or ``DataFrame.show``) elsewhere."""
    if "display" in globals():
        display(obj)  # noqa: F821 - provided by the Databricks notebook runtime
    elif hasattr(obj, "show"):
        obj.show()
    else:
        print(obj)


def show_figure(fig: object, name: str) -> None:
    """Show a matplotlib figure inline on Databricks; elsewhere save it to FIGURE_DIR."""
    if "display" in globals():
        display(fig)  # noqa: F821
    elif globals().get("FIGURE_DIR"):
        fig.savefig(Path(FIGURE_DIR) / f"{name}.png", dpi=80)  # noqa: F821
    plt.close(fig)


data_dir = find_data_dir()
print(f"rddml {rddml.__version__}, data from {data_dir}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## k-means on 10 000 points from 5 blobs

# COMMAND ----------

points = np.loadtxt(data_dir / "blobs.csv", delimiter=",")
blobs = spark.createDataFrame(pd.DataFrame(points, columns=["x", "y"]))  # noqa: F821

km = KMeans(k=5, init="k-means||", seed=42, feature_cols=["x", "y"]).fit(blobs)
order = np.lexsort(km.cluster_centers_.T[::-1])
centres = pd.DataFrame(km.cluster_centers_[order], columns=["x", "y"])
print(f"converged={km.converged_} after {km.n_iter_} iterations, inertia={km.inertia_:.2f}")
show(centres)
show(pd.DataFrame(km.history_))

# COMMAND ----------

clustered = km.predict(blobs)
sample = clustered.sample(fraction=0.3, seed=1).toPandas()
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(sample["x"], sample["y"], c=sample["prediction"], s=4, cmap="tab10")
ax.scatter(km.cluster_centers_[:, 0], km.cluster_centers_[:, 1], c="black", marker="x", s=80)
ax.set_title("k-means clusters (30% sample) and centres")
show_figure(fig, "kmeans_clusters")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Logistic regression on 10 000 labelled points

# COMMAND ----------

table = np.loadtxt(data_dir / "classification.txt")
labelled = spark.createDataFrame(  # noqa: F821
    pd.DataFrame({"x1": table[:, 0], "x2": table[:, 1], "label": table[:, 2]})
)
train, test = labelled.randomSplit([0.8, 0.2], seed=7)

lr = LogisticRegression(optimizer="lbfgs", reg_param=0.001, feature_cols=["x1", "x2"]).fit(train)
print(f"coef={lr.coef_}, intercept={lr.intercept_:.4f}, {lr.n_iter_} iterations")
metrics = lr.evaluate(test)
show(pd.DataFrame([{k: v for k, v in metrics.items() if k != "confusion_matrix"}]))
print("confusion matrix [[tn, fp], [fn, tp]]:", metrics["confusion_matrix"])

# COMMAND ----------

scored = lr.predict_proba(test).sample(fraction=0.5, seed=1).toPandas()
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
left.plot(range(len(lr.loss_history_)), lr.loss_history_, marker="o")
left.set_xlabel("evaluation")
left.set_ylabel("objective")
left.set_title("L-BFGS objective")
right.scatter(scored["x1"], scored["x2"], c=scored["probability"], s=4, cmap="coolwarm")
xs = np.linspace(scored["x1"].min(), scored["x1"].max(), 2)
right.plot(xs, -(lr.coef_[0] * xs + lr.intercept_) / lr.coef_[1], color="black")
right.set_title("P(y = 1) on the test split and the decision line")
show_figure(fig, "logistic_regression")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Text classification on sparse features
# MAGIC `Tokenizer → HashingTF → IDF → rddml.ml.LogisticRegression` in a pyspark.ml Pipeline: the
# MAGIC TF-IDF vectors stay sparse (rddml caches them as CSR blocks, `layout="auto"`), the fitted
# MAGIC PipelineModel is saved and loaded back, and its test accuracy is compared with
# MAGIC pyspark.ml's own LogisticRegression on the same split (docs/sparse.md). Set `MODEL_DIR`
# MAGIC (e.g. a `/Volumes/...` path) to keep the saved model.

# COMMAND ----------

rng = np.random.default_rng(3)
topics = [["goal", "match", "team", "league", "coach", "season", "win", "cup"],
          ["stock", "market", "bank", "price", "fund", "trade", "profit", "bond"]]
texts = []
for _ in range(2000):
    label = int(rng.integers(0, 2))
    words = [*rng.choice(topics[label], 4), *rng.choice(topics[1 - label], 1),
             *rng.choice(["the", "a", "of", "and", "in", "on"], 3)]
    texts.append((" ".join(rng.permutation(words)), float(label)))
docs_train, docs_test = spark.createDataFrame(texts, ["text", "label"]).randomSplit(  # noqa: F821
    [0.8, 0.2], seed=11)


def text_pipeline(classifier: object) -> Pipeline:
    return Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"),
                            HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 18),
                            IDF(inputCol="tf", outputCol="features"), classifier])


def accuracy(model: PipelineModel) -> float:
    rows = model.transform(docs_test).select("prediction", "label").collect()
    return float(np.mean([r["prediction"] == r["label"] for r in rows]))


text_model = text_pipeline(rddml.ml.LogisticRegression(regParam=0.01)).fit(docs_train)
own_dir = not globals().get("MODEL_DIR")
model_dir = tempfile.mkdtemp(prefix="rddml-text-") if own_dir else MODEL_DIR  # noqa: F821
text_model.write().overwrite().save(f"{model_dir}/text_model")
reloaded = PipelineModel.load(f"{model_dir}/text_model")
text_accuracy = {"rddml.ml (saved and loaded)": accuracy(reloaded),
                 "pyspark.ml": accuracy(text_pipeline(
                     SparkLogisticRegression(regParam=0.01)).fit(docs_train))}
if own_dir:
    shutil.rmtree(model_dir, ignore_errors=True)
show(pd.DataFrame([text_accuracy]))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Optional: MLflow tracking
# MAGIC `rddml.tracking.enable()` logs every following fit (parameters, per-iteration metrics,
# MAGIC the saved model) as an MLflow run; MLflow is preinstalled on Databricks.
# MAGIC ```python
# MAGIC from rddml import tracking
# MAGIC tracking.enable(experiment="/Shared/rddml-quickstart")
# MAGIC KMeans(k=5, seed=42, feature_cols=["x", "y"]).fit(blobs)
# MAGIC tracking.disable()
# MAGIC ```
