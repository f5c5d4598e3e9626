"""k-means: the estimator (:mod:`~rddml.cluster.kmeans`), its initialisations
(random, k-means++, k-means||) and Lloyd/cost passes written once against the engine's
dataset interface, and the NumPy-only kernels (:mod:`~rddml.cluster.kernels`, no
Spark import) that those passes run on each block."""
