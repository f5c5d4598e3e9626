"""Logistic regression, binary and multinomial: the estimator (:mod:`~rddml.linear.logistic`),
the passes over the engine's datasets (loss and gradient, class moments and the class
census, mini-batches, evaluation), the class checks (:mod:`~rddml.linear.classes`), the
driver-side optimisers (:mod:`~rddml.linear.solvers`: GD, SGD, L-BFGS, OWL-QN) and the
NumPy-only kernels (:mod:`~rddml.linear.kernels`, :mod:`~rddml.linear.softmax`, no Spark
import)."""
