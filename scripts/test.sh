#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian machine with Node 20: installs what is
# missing (Debian packages, npm dependencies), builds, type-checks, lints, then runs every
# compiled test file with node's test runner. Exits non-zero if any step fails.
set -uo pipefail

cd "$(dirname "$0")/.."

debian_packages=(mosquitto mosquitto-clients python3-paho-mqtt openssl haproxy)
failures=()
started_at=$SECONDS

step() {
  printf '\n==> %s\n' "$*"
}

run_step() {
  local name=$1
  shift
  step "$name"
  if ! "$@"; then
    failures+=("$name")
    return 1
  fi
}

install_debian_packages() {
  local missing=()
  for package in "${debian_packages[@]}"; do
    if ! dpkg -s "$package" >/dev/null 2>&1; then
      missing+=("$package")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "Debian packages present: ${debian_packages[*]}"
    return 0
  fi
  echo "installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_npm_dependencies() {
  # Reinstall when node_modules is absent or older than the lockfile.
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    # --ignore-scripts: our own prepare (tsc) runs as the build step below, where its errors are reported as such.
    npm ci --ignore-scripts --no-audit --no-fund && touch node_modules
  else
    echo "node_modules is up to date with package-lock.json"
  fi
}

run_tests() {
  local files
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
  if [ ${#files[@]} -eq 0 ]; then
    echo "no compiled test files under dist/test"
    return 1
  fi
  # Two files at a time halve the wall time, but on a machine with fewer than 4 CPUs they starve
  # each other and timing assertions fail; PETREL_TEST_CONCURRENCY overrides the choice.
  local default_concurrency=1
  if [ "$(nproc 2>/dev/null || echo 1)" -ge 4 ]; then
    default_concurrency=2
  fi
  local concurrency=${PETREL_TEST_CONCURRENCY:-$default_concurrency}
  echo "${#files[@]} test files, ${concurrency} at a time"
  local report
  report=$(mktemp)
  node --test --test-concurrency="$concurrency" "${files[@]}" | tee "$report"
  local status=${PIPESTATUS[0]}
  # The runner's closing "# tests N", "# pass N", "# fail N" lines, for the summary.
  test_counts=$(grep -E '^# (tests|pass|fail) [0-9]+$' "$report" | sed 's/^# //' | paste -sd ' ' -)
  rm -f "$report"
  return "$status"
}

test_counts=""

if command -v dpkg >/dev/null 2>&1; then
  run_step "Debian packages" install_debian_packages || true
else
  echo "dpkg not found: skipping Debian packages (integration tests needing them may fail)"
fi

# Without dependencies nothing below can run; stop here.
if ! run_step "npm dependencies" install_npm_dependencies; then
  echo "petrel tests: FAILED (npm dependencies could not be installed)"
  exit 1
fi

build() {
  # From scratch, so dist/ holds no compiled tests whose sources were deleted. tsc still emits
  # when there are type errors; those fail this step, and the tests run anyway.
  rm -rf dist && npm run --silent build
}

run_step "build" build || true
run_step "typecheck" npm run --silent typecheck || true
run_step "lint" npm run --silent lint || true
run_step "tests" run_tests || true

elapsed=$((SECONDS - started_at))
if [ ${#failures[@]} -eq 0 ]; then
  echo
  echo "petrel tests: PASSED (Debian packages, npm, build, typecheck, lint, tests: ${test_counts}) in ${elapsed}s"
  exit 0
fi
echo
echo "petrel tests: FAILED steps: ${failures[*]} (tests: ${test_counts:-not run}) after ${elapsed}s"
exit 1
