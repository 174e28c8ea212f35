#!/usr/bin/env bash
# Instructions per appended event and per folded record, counted by
# callgrind over `persist-bench --count CASE N` (bench/src/count.rs): only
# the case's work is counted, its setup is not. Counts are stable where
# timings are not (a shared 2-core machine).
#
#   bench/instructions.sh            # every case, as a table
#   bench/instructions.sh fold-disk  # some cases
#   N=50000 bench/instructions.sh    # records per fold case (default 20,000)
#   N=1000000 bench/instructions.sh reopen  # events in the reopened store
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
cargo build --release -q -p persist-bench
bin=target/release/persist-bench
n=${N:-20000}
# Durable single appends fsync each event; fewer keep the run short.
units() { case $1 in append | once) echo $((n / 10)) ;; *) echo "$n" ;; esac; }
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(append once append-mem once-mem append_all fold-disk fold-mem fold-empty fold-upcast closure reopen)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-12s %10s %16s %14s\n' case N instructions per-unit
for c in "${cases[@]}"; do
  u=$(units "$c")
  if [ "$c" = reopen ]; then
    # Both threads of a reopen (the checking one too), so everything the
    # child runs is counted, its start and exit included (small against
    # N events). Kernel work (the page-cache copy, page faults) is not
    # counted: `perf stat -e task-clock,page-faults` shows that.
    "$bin" --build-store "$out/store" "$u" >/dev/null
    if ! valgrind --tool=callgrind --callgrind-out-file="$out/$c" \
        "$bin" --reopen-child "$out/store" >"$out/$c.stdout" 2>"$out/$c.log"; then
      echo "instructions.sh: case $c failed:" >&2
      tail -20 "$out/$c.log" >&2
      exit 1
    fi
    awk -v c="$c" -v u="$u" '/^summary:/ { printf "%-12s %10d %16d %14.0f\n", c, u, $2, $2 / u }' "$out/$c"
    continue
  fi
  if ! valgrind --tool=callgrind --callgrind-out-file="$out/$c" --collect-atstart=no \
      '--toggle-collect=*count::measured*' "$bin" --count "$c" "$u" >"$out/$c.stdout" 2>"$out/$c.log"; then
    echo "instructions.sh: case $c failed:" >&2
    tail -20 "$out/$c.log" >&2
    exit 1
  fi
  # Nothing counted means callgrind never saw `count::measured` run.
  awk -v c="$c" -v u="$u" '/^summary:/ { if ($2 == 0) exit 1; printf "%-12s %10d %16d %14.0f\n", c, u, $2, $2 / u }' "$out/$c" ||
    { echo "instructions.sh: case $c: callgrind counted nothing inside count::measured" >&2; exit 1; }
done
