# make test  — bootstrap .venv if needed, then the whole suite: pytest, ruff, mypy.
.PHONY: test pytest lint typecheck bootstrap demo clean

VENV := .venv/bin

bootstrap:
	@tools/bootstrap.sh

test: bootstrap
	$(VENV)/python -m pytest
	$(VENV)/ruff check lib jobs tests tools
	$(VENV)/mypy lib jobs tools

pytest: bootstrap
	$(VENV)/python -m pytest

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
