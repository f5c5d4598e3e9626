#!/usr/bin/env bash
# A Spark standalone cluster on 127.0.0.1, started from the pip pyspark package:
#   tools/local-cluster.sh start [N] [--cores C] [--memory 2g]   Master + N Workers
#   tools/local-cluster.sh status | url | add-worker | stop
#   (global option before the command: --dir DIR, default build/local-cluster)
# See tools/local_cluster.py; ./spark-submit.sh --start-local-cluster N wraps it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RDDML_ROOT="$ROOT"
# shellcheck source=tools/bootstrap.sh
source "$ROOT/tools/bootstrap.sh" >&2
exec "$ROOT/.venv/bin/python" "$ROOT/tools/local_cluster.py" "$@"
