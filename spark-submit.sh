#!/usr/bin/env bash
# Run an rddml job with spark-submit:
#   ./spark-submit.sh [--master URL] [--profile local|cluster] JOB [--set key=value ...] [--overwrite]
#   ./spark-submit.sh --start-local-cluster N | --stop-local-cluster | --local-cluster-status
# On first use it creates .venv and installs the project (tools/bootstrap.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RDDML_ROOT="$ROOT"

usage() {
  cat <<USAGE
usage: ./spark-submit.sh [--master URL] [--profile local|cluster] JOB [job options]

Runs jobs/JOB.py through spark-submit with conf/spark-PROFILE.conf as the properties
file (refined by conf/jobs/JOB.spark-PROFILE.conf when present) and conf/jobs/JOB.toml as
the job's config. lib/rddml is zipped for --py-files.

options:
  --master URL       Spark master (default: from the profile; local[*] for local)
  --profile NAME     local (default) or cluster
  --spark-conf K=V   extra Spark property (repeatable)
  --no-pack          cluster profile: use the nodes' own Python (it must have numpy, scipy,
                     numba, pyarrow) instead of shipping the packed environment
  -h, --help         this help

a standalone cluster on this machine (tools/local-cluster.sh, state in build/local-cluster):
  --start-local-cluster N   start a Master and N Workers on 127.0.0.1 (1 core, 2g each)
  --stop-local-cluster      stop exactly the processes it started
  --local-cluster-status    show the master URL, workers and running applications
  then: ./spark-submit.sh --master "\$(tools/local-cluster.sh url)" JOB

job options (after JOB):
  --set KEY=VALUE    override a key of conf/jobs/JOB.toml (repeatable)
  --config FILE      use another config file
  --overwrite        replace existing outputs
  --help             the job's own help, with every config key

jobs:
USAGE
  for f in "$ROOT"/jobs/*.py; do
    local name; name=$(basename "$f" .py)
    [[ "$name" == _* ]] && continue
    # First line of the module docstring.
    local line; line=$(awk 'NR==1 { sub(/^"""/, ""); sub(/"""$/, ""); print; exit }' "$f")
    printf '  %-20s %s\n' "$name" "$line"
  done
}

MASTER=""
PROFILE="local"
EXTRA_CONF=()
PACK=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --master) MASTER="${2:?--master needs a URL}"; shift 2 ;;
    --master=*) MASTER="${1#*=}"; shift ;;
    --profile) PROFILE="${2:?--profile needs local or cluster}"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --spark-conf) EXTRA_CONF+=(--conf "${2:?--spark-conf needs KEY=VALUE}"); shift 2 ;;
    --no-pack) PACK=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --start-local-cluster)
      exec "$ROOT/tools/local-cluster.sh" start "${2:?--start-local-cluster needs the number of workers}" ;;
    --start-local-cluster=*) exec "$ROOT/tools/local-cluster.sh" start "${1#*=}" ;;
    --stop-local-cluster) exec "$ROOT/tools/local-cluster.sh" stop ;;
    --local-cluster-status) exec "$ROOT/tools/local-cluster.sh" status ;;
    -*) echo "error: unknown option $1 (see ./spark-submit.sh --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { usage >&2; exit 2; }
JOB="$1"; shift
JOB_FILE="$ROOT/jobs/$JOB.py"
if [[ ! -f "$JOB_FILE" || "$JOB" == _* ]]; then
  echo "error: unknown job '$JOB'; the jobs are: $(cd "$ROOT/jobs" && ls ./*.py | sed 's|./||; s|\.py$||' | grep -v '^_' | tr '\n' ' ')" >&2
  exit 2
fi
PROPS="$ROOT/conf/spark-$PROFILE.conf"
[[ -f "$PROPS" ]] || { echo "error: no profile '$PROFILE' (expected $PROPS)" >&2; exit 2; }

# shellcheck source=tools/bootstrap.sh
source "$ROOT/tools/bootstrap.sh"

# Package lib/rddml for --py-files. The zip is named by a hash of the sources, so it is
# rebuilt only when a source changes, and a job that is still running keeps reading its own
# zip while another run builds a newer one (zipimport re-reads the file by path).
mkdir -p "$ROOT/build"
ZIP="$("$ROOT/.venv/bin/python" - "$ROOT/lib" "$ROOT/build" <<'PY'
import hashlib, os, sys, tempfile, zipfile
src, build = sys.argv[1], sys.argv[2]
files = []
for dirpath, dirnames, filenames in os.walk(os.path.join(src, "rddml")):
    dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
    files += [os.path.join(dirpath, n) for n in sorted(filenames) if n.endswith((".py", ".typed"))]
digest = hashlib.sha1()
for path in files:
    digest.update(os.path.relpath(path, src).encode() + b"\0")
    with open(path, "rb") as fh:
        digest.update(fh.read())
out = os.path.join(build, f"rddml-{digest.hexdigest()[:12]}.zip")
if not os.path.exists(out):
    fd, tmp = tempfile.mkstemp(dir=build, suffix=".zip.tmp")
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, os.path.relpath(path, src))
    os.replace(tmp, out)
print(out)
PY
)"

# A cluster's own spark-submit when one is on PATH, else the one pip installed in .venv.
SUBMIT="$(command -v spark-submit || true)"
[[ -n "$SUBMIT" ]] || SUBMIT="$ROOT/.venv/bin/spark-submit"

if [[ "$PROFILE" == "local" ]]; then
  export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$ROOT/.venv/bin/python}"
  export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
fi
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$ROOT/.venv/bin/python}"
# Client mode: the driver lives in spark-submit's JVM, so this sets its log4j config.
export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:-} -Dlog4j2.configurationFile=file:$ROOT/conf/log4j2.properties"

ARGS=(--properties-file "$PROPS" --py-files "$ZIP")
# The cluster profile ships the project's runtime environment (built once per dependency
# set by tools/pack_env.py) to every executor, so the nodes need no NumPy of their own.
# The driver keeps .venv's Python: in client mode it runs here, not in the archive.
if [[ "$PROFILE" == "cluster" && "$PACK" == 1 ]]; then
  ENV_ARCHIVE="$("$ROOT/.venv/bin/python" "$ROOT/tools/pack_env.py")"
  ARGS+=(--conf "spark.archives=$ENV_ARCHIVE#rddml-env"
         --conf "spark.pyspark.python=./rddml-env/bin/python"
         --conf "spark.pyspark.driver.python=$PYSPARK_DRIVER_PYTHON")
fi
[[ -n "$MASTER" ]] && ARGS+=(--master "$MASTER")
# A job may refine the profile: conf/jobs/JOB.spark-PROFILE.conf ("key value" lines, as in
# the profile) goes before --spark-conf, so the command line still wins.
JOB_PROPS="$ROOT/conf/jobs/$JOB.spark-$PROFILE.conf"
if [[ -f "$JOB_PROPS" ]]; then
  while read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    ARGS+=(--conf "$key=$value")
  done < "$JOB_PROPS"
fi
ARGS+=("${EXTRA_CONF[@]}")
JOB_CONF="$ROOT/conf/jobs/$JOB.toml"
JOB_ARGS=()
[[ -f "$JOB_CONF" ]] && JOB_ARGS+=(--config "$JOB_CONF")

cd "$ROOT"
exec "$SUBMIT" "${ARGS[@]}" "$JOB_FILE" "${JOB_ARGS[@]}" "$@"
