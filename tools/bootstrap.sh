#!/usr/bin/env bash
# Create .venv and install rddml with its pinned dependencies, once (and again whenever
# pyproject.toml or constraints.txt change). Sourced by spark-submit.sh and the Makefile;
# also runnable alone: tools/bootstrap.sh
set -euo pipefail
ROOT="${RDDML_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VENV="$ROOT/.venv"
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

stamp_of() { cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | cksum | cut -d' ' -f1; }

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
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" \
    -e "$ROOT[spark,connect,plots,mlflow,dev]" >&2
  echo "$want" > "$VENV/.rddml-stamp"
}

bootstrap
