"""What a job reads and leaves behind: validated configuration (:mod:`~rddml.io.config`),
atomic outputs, fit checkpoints, model persistence, MLflow tracking, plots and the
shared job runner (:mod:`~rddml.io.jobkit`)."""
