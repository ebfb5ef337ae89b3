#!/usr/bin/env bash
# Validates JUnit XML files against Jenkins' junit-10.xsd (the schema the xUnit plugin checks) with
# xmllint. The schema is not kept in this repository: it is taken from pytest's source distribution
# on PyPI (testing/example_scripts/junit-10.xsd, MIT licence) into target/ci on first use.
#
#   bash .ci/junit-xsd.sh FILE.xml [FILE.xml ...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: $0 FILE.xml [FILE.xml ...]" >&2; exit 2; }
PYTEST_VERSION=8.3.4
XSD=target/ci/junit-10.xsd
if ! command -v xmllint >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
fi
if [ ! -s "$XSD" ]; then
  mkdir -p target/ci/pytest-sdist
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "pytest==$PYTEST_VERSION" -d target/ci/pytest-sdist
  tar -xzf "target/ci/pytest-sdist/pytest-$PYTEST_VERSION.tar.gz" -C target/ci/pytest-sdist \
    "pytest-$PYTEST_VERSION/testing/example_scripts/junit-10.xsd"
  cp "target/ci/pytest-sdist/pytest-$PYTEST_VERSION/testing/example_scripts/junit-10.xsd" "$XSD"
fi
xmllint --noout --schema "$XSD" "$@"
