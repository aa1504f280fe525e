#!/usr/bin/env bash
# `make setup`: the Python virtual environment and the JVM artifacts, idempotent and quick when
# nothing changed (each step keeps a stamp with the hash of the files it was built from).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV="$REPO/.venv"
DEPS="${RETAIL_DEPS_DIR:-$REPO/.deps}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$DEPS/stamps"

fail() { echo "setup: $*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- prerequisites -----------------------------------------------------------------------------
command -v java >/dev/null || fail "Java is missing: install a JDK 17 or newer (Debian: apt-get install openjdk-17-jdk-headless)."
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[ "${java_major:-0}" -ge 17 ] || fail "Java ${java_major:-unknown} found; Kafka 4 and Spark 4 need Java 17 or newer."
command -v mvn >/dev/null || fail "Maven is missing: install it (Debian: apt-get install maven); it resolves the Kafka and Spark jars."
command -v "$PYTHON" >/dev/null || fail "$PYTHON is missing: install Python 3.11 or 3.12 or set PYTHON=/path/to/python3."
# 3.11 at least: the pinned Spark provider (apache-airflow-providers-apache-spark 6.3.4) needs it.
"$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' \
  || fail "$("$PYTHON" -V 2>&1) found; the platform needs Python 3.11 or 3.12 (set PYTHON=...)."

# --- Python environment ------------------------------------------------------------------------
# Installed from requirements.lock only (every package pinned; `make lock` recompiles it from
# requirements.txt and requirements-dev.txt). uv itself is pinned here.
UV_VERSION=0.13.9
py_stamp="$DEPS/stamps/python-$(hash_of requirements.lock pyproject.toml infra/setup.sh)"
if [ ! -f "$py_stamp" ] || [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the Python environment in .venv (about a minute the first time)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
    || fail "installing uv $UV_VERSION into .venv failed; check that PyPI is reachable."
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r requirements.lock \
    || fail "installing requirements.lock failed; after editing requirements*.txt run \`make lock\`."
  # chdb and chdb-core both write chdb/__init__.py; chdb's own copy must win.
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --reinstall --no-deps "$(grep '^chdb==' requirements.lock)"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
  rm -f "$DEPS"/stamps/python-*
  touch "$py_stamp"
else
  echo "setup: Python environment up to date"
fi

# --- Apache Superset (BI) ---------------------------------------------------------------------
# Its own environment: its pins conflict with Airflow's. Installed from the lock file only.
ss_venv="$DEPS/superset-venv"
ss_stamp="$DEPS/stamps/superset-$(hash_of infra/superset/requirements.lock)"
if [ ! -f "$ss_stamp" ] || [ ! -x "$ss_venv/bin/gunicorn" ]; then
  echo "setup: installing Apache Superset into $ss_venv (about 30 s the first time)"
  rm -rf "$ss_venv"
  "$VENV/bin/uv" venv --quiet --python "$PYTHON" "$ss_venv"
  "$VENV/bin/uv" pip install --quiet --python "$ss_venv/bin/python" -r infra/superset/requirements.lock \
    || fail "installing Superset from infra/superset/requirements.lock failed; check that PyPI is reachable."
  rm -f "$DEPS"/stamps/superset-*
  touch "$ss_stamp"
else
  echo "setup: Superset environment up to date"
fi

# --- Debian packages: Chromium (the dashboards' browser tests and screenshots) and PostgreSQL's
# server programs (Airflow's metadata database on the cluster profile, and its tests) --------------
# apt_install PACKAGE: through apt-get when run as root, else stop with the command to run.
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's $1 (a minute or two)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null \
      || fail "apt-get could not install $1; install it (Debian: apt-get install $1)."
  else
    fail "Debian's $1 package is missing: install it (sudo apt-get install $1)."
  fi
}
# Chromium is driven by Playwright; no browser is ever downloaded by Playwright itself.
if [ -x /usr/bin/chromium ]; then echo "setup: chromium present"; else apt_install chromium; fi
# The platform runs its own private PostgreSQL cluster (retail_platform/runtime/postgres.py).
if [ -x /usr/lib/postgresql/15/bin/postgres ] || command -v postgres >/dev/null; then
  echo "setup: PostgreSQL present"
else
  apt_install postgresql
fi

# --- JVM artifacts -----------------------------------------------------------------------------
# resolve_jars MODULE: the jars of infra/maven/MODULE/pom.xml into .deps/jars/MODULE (again only when
# the pom changed).
resolve_jars() {
  local module=$1 pom="infra/maven/$1/pom.xml"
  local stamp
  stamp="$DEPS/stamps/$module-$(hash_of "$pom")"
  if [ ! -f "$stamp" ]; then
    echo "setup: resolving $module jars with Maven"
    rm -rf "$DEPS/jars/$module"
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$DEPS/jars/$module" \
      || fail "Maven could not resolve $pom; check that Maven Central is reachable."
    rm -f "$DEPS"/stamps/"$module"-*
    touch "$stamp"
  else
    echo "setup: $module jars up to date"
  fi
}
resolve_jars kafka-broker
resolve_jars spark-connectors

# --- the cluster profile's extras (`make setup-cluster`) ---------------------------------------
# The S3A jars for a lake on S3 and Versity's S3 gateway (versitygw, Apache-2.0), built from its Go
# module at a pinned version into .deps/bin (about 3 CPU-minutes the first time).
VERSITYGW_VERSION=v1.8.0
if [ "${1:-}" = "--cluster" ]; then
  resolve_jars s3a  # about 700 MB the first time (the AWS SDK bundle)
  gw_stamp="$DEPS/stamps/versitygw-$VERSITYGW_VERSION"
  if [ ! -f "$gw_stamp" ] || [ ! -x "$DEPS/bin/versitygw" ]; then
    command -v go >/dev/null || fail "Go is missing: install Go 1.25 or newer to build the S3 gateway (versitygw's go.mod asks for it)."
    echo "setup: building versitygw $VERSITYGW_VERSION with Go (a few minutes the first time)"
    mkdir -p "$DEPS/bin"
    (cd /tmp && GOBIN="$DEPS/bin" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION") \
      || fail "building versitygw failed; check that the Go module proxy is reachable."
    rm -f "$DEPS"/stamps/versitygw-*
    touch "$gw_stamp"
  else
    echo "setup: versitygw up to date"
  fi
fi
echo "setup: done"
