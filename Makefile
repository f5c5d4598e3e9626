# make test  — bootstrap .venv if needed, then the whole suite: pytest, the pyspark 3.5 subset, ruff, mypy.
.PHONY: test pytest test-spark35 lint typecheck bootstrap demo clean

VENV := .venv/bin

bootstrap:
	@tools/bootstrap.sh

# The core of the suite again on pyspark 3.5 (what Databricks LTS runtimes ship): both
# estimators on both backends and the jobs, in .venv-spark35 (constraints-spark35.txt).
SPARK35_TESTS := tests/test_backends.py tests/test_logistic_job.py \
	tests/test_kmeans_job.py::test_job_writes_centres_model_summary_and_plot \
	tests/test_kmeans_job.py::test_parquet_input_with_feature_columns \
	tests/test_dataframe_backend.py::test_the_mapinarrow_fallback_builds_the_same_blocks \
	tests/test_ml_persistence.py tests/test_ml_compat.py tests/test_ml_docstrings.py

# Two pytest workers (pytest-xdist): many tests wait on Spark's scheduling and JVM round
# trips rather than on the CPU. Each worker takes whole modules (tests/conftest.py).
PYTEST_PARALLEL := -n 2

# The pyspark 3.5 environment is built while the main suite runs (pip waits on I/O).
test: bootstrap
	@mkdir -p build
	@set -e; RDDML_ENV=spark35 tools/bootstrap.sh > build/bootstrap-spark35.log 2>&1 & boot=$$!; \
	status=0; $(VENV)/python -m pytest $(PYTEST_PARALLEL) || status=$$?; \
	if ! wait $$boot; then cat build/bootstrap-spark35.log; exit 1; fi; exit $$status
	$(MAKE) test-spark35
	$(VENV)/ruff check lib jobs tests tools
	$(VENV)/mypy lib jobs tools

pytest: bootstrap
	$(VENV)/python -m pytest $(PYTEST_PARALLEL)

test-spark35:
	@RDDML_ENV=spark35 tools/bootstrap.sh
	.venv-spark35/bin/python -c 'import pyspark; print("pyspark", pyspark.__version__)'
	.venv-spark35/bin/python -m pytest -p no:cacheprovider $(PYTEST_PARALLEL) $(SPARK35_TESTS)

lint: bootstrap
	$(VENV)/ruff check lib jobs tests tools

typecheck: bootstrap
	$(VENV)/mypy lib jobs tools

demo:
	./spark-submit.sh demo --overwrite

clean:
	@# A local cluster's state file lives in build/: stop its daemons before deleting it.
	@if [ -f build/local-cluster/cluster.json ]; then tools/local-cluster.sh stop; fi
	rm -rf build dist output .pytest_cache .mypy_cache .ruff_cache
