#!/bin/sh
# Rebuilds the seed corpus (fuzz/corpus/<target>/seed-*) from a store the
# library writes (fuzz/seeds.rhai). Run from the repository root.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo run -q -- run fuzz/seeds.rhai --store "$dir/store"
c=fuzz/corpus
mkdir -p $c/batch $c/meta $c/serve $c/import
for seg in "$dir"/store/*.log; do
    # batch: a segment's frames, after its 32-byte header.
    tail -c +33 "$seg" > "$c/batch/seed-$(basename "$seg" .log)"
done
# meta: a selector byte (0 hint, 1 manifest, 2 marker) and the file
# without its trailing CRC, which the target reseals.
strip() { head -c -4 "$1"; }
{ printf '\000'; strip "$dir/store/hint"; } > $c/meta/seed-hint
{ printf '\001'; strip "$dir/store/manifest"; } > $c/meta/seed-manifest
# A legacy compaction marker: magic, 1 output (7), 2 replaced (5, 6).
printf '\002PRSTCMP1\001\000\000\000\007\000\000\000\000\000\000\000\002\000\000\000\005\000\000\000\000\000\000\000\006\000\000\000\000\000\000\000' > $c/meta/seed-marker
cargo run -q -- export "$dir/store" > $c/import/seed-dump
# serve: requests as SPEC 3.8 shapes them, one or an array of them.
printf '%s\n' \
    '[{"op":"persist/append","args":["s-2",{"a":1}]},{"op":"persist/read","args":["s-1",0,10]}]' \
    > $c/serve/seed-append-read
printf '%s\n' '{"op":"persist/append_all","args":["s-1",[1,{"x":[]},null]]}' > $c/serve/seed-append-all
printf '%s\n' '{"op":"persist/kv_put","args":["k2",{"error":"x"}]}' > $c/serve/seed-kv
printf '%s\n' '{"op":"persist/restore","args":["t",3,[]]}' > $c/serve/seed-restore
printf '%s\n' '{"op":"persist/append_once","args":["s-1","i",2]}' > $c/serve/seed-once
printf '%s\n' '{"op":"persist/truncate_through","args":["s-1",1]}' > $c/serve/seed-truncate
