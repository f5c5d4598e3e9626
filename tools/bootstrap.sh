#!/usr/bin/env bash
# Create .venv and install rddml with its pinned dependencies, once (and again whenever
# pyproject.toml or constraints.txt change). Sourced by spark-submit.sh and the Makefile;
# also runnable alone: tools/bootstrap.sh
#
# RDDML_ENV=spark35 tools/bootstrap.sh builds the second, older environment instead:
# .venv-spark35 with pyspark 3.5 and the NumPy/pandas/pyarrow of a Databricks 15.4 LTS
# runtime (constraints-spark35.txt), for `make test-spark35`.
set -euo pipefail
ROOT="${RDDML_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
case "${RDDML_ENV:-default}" in
  default) VENV="$ROOT/.venv"; CONSTRAINTS="$ROOT/constraints.txt"
           EXTRAS="spark,connect,plots,mlflow,cluster,dev" ;;
  spark35) VENV="$ROOT/.venv-spark35"; CONSTRAINTS="$ROOT/constraints-spark35.txt"
           EXTRAS="spark,plots,test" ;;
  *) echo "error: RDDML_ENV must be 'default' or 'spark35', got '${RDDML_ENV}'" >&2; exit 1 ;;
esac
PY="${PYTHON:-python3}"

die() { echo "error: $*" >&2; exit 1; }

check_java() {
  local java="java"
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then java="$JAVA_HOME/bin/java"; fi
  command -v "$java" >/dev/null 2>&1 || die "Java not found: install a JDK 17 or newer (e.g. 'apt-get install openjdk-17-jdk-headless') or set JAVA_HOME."
  local version major
  version=$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  major=${version%%.*}
  [[ "$major" == "1" ]] && major=$(echo "$version" | cut -d. -f2)
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from '$java -version'; install a JDK 17 or newer."
  (( major >= 17 )) || die "Java $version found, Spark 4 needs Java 17 or newer: install a JDK 17+ (e.g. 'apt-get install openjdk-17-jdk-headless') or point JAVA_HOME at one."
}

check_python() {
  command -v "$PY" >/dev/null 2>&1 || die "Python not found ('$PY'): install Python 3.10 or newer, or set PYTHON=/path/to/python3."
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$("$PY" -V 2>&1) found, rddml needs Python 3.10 or newer: set PYTHON=/path/to/python3.10+."
}

stamp_of() { cat "$ROOT/pyproject.toml" "$CONSTRAINTS" | cksum | cut -d' ' -f1; }

bootstrap() {
  check_java
  local want; want=$(stamp_of)
  if [[ -x "$VENV/bin/python" && -f "$VENV/.rddml-stamp" && "$(cat "$VENV/.rddml-stamp")" == "$want" ]]; then
    return 0
  fi
  check_python
  echo "rddml: setting up $VENV (first run, or dependencies changed) ..." >&2
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e "$ROOT[$EXTRAS]" >&2
  echo "$want" > "$VENV/.rddml-stamp"
}

bootstrap
