"""Logistic regression: the estimator (:mod:`~rddml.linear.logistic`), the passes over
the engine's datasets (loss and gradient, class moments, mini-batches, evaluation),
the driver-side optimisers (:mod:`~rddml.linear.solvers`: GD, SGD, L-BFGS, OWL-QN) and
the NumPy-only kernels (:mod:`~rddml.linear.kernels`, no Spark import)."""
