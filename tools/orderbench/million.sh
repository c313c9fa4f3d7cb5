#!/bin/bash
#   The 1M-order figures of docs/BENCHMARKS.md: start-up until the doors
#   open, idle RSS without LMDB's mapped pages, gets and the full order
#   lifecycle against a store of 1,000,000 orders.
#
#       tools/orderbench/million.sh DIR [ORDERS]
#
#   DIR keeps the store between runs; the first run fills it with ORDERS
#   (default 1000000) pending orders through the service door (about 4 min
#   on 2 cores, sync=none for the fill only) and then measures gets of
#   random orders among them (only orderbench's fill knows their ids), next
#   to the same gets over 10,000 orders. Every other measurement runs with
#   sync=full. A cold start (page cache dropped) is measured when run as
#   root. Needs build/bin/{orderd,orderbench,ordermon} (`scons`).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:?usage: million.sh DIR [ORDERS]}
ORDERS=${2:-1000000}
BIN=build/bin
PORT=9791
SET=(--set "orderd/data_dir=$DIR/data" --set "orderd/service=tcp://127.0.0.1:$PORT"
     --set "orderd/admin=tcp://127.0.0.1:$((PORT + 1))"
     --set "orderd/events=tcp://127.0.0.1:$((PORT + 2))"
     --set "orderd/metrics=127.0.0.1:$((PORT + 3))"
     --set orderd/map_size=16G --set payment/map_size=4G --set fulfilment/map_size=8G
     --set orderd/payment_timeout=2000000000)
TARGET=(-e "tcp://127.0.0.1:$PORT" -a "tcp://127.0.0.1:$((PORT + 1))")
PID=

start () {
    "$BIN/orderd" -c config/orderd.cfg "${SET[@]}" --set "orderd/sync=$1" \
        >> "$DIR/orderd.log" 2>&1 &
    PID=$!
    local t0=$(date +%s%N)
    until "$BIN/ordermon" -e "tcp://127.0.0.1:$((PORT + 1))" --timeout 1 health \
            > /dev/null 2>&1; do
        kill -0 "$PID" 2> /dev/null || { echo "orderd died: see $DIR/orderd.log"; exit 2; }
        sleep 0.01
    done
    STARTUP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

stop () {
    kill -TERM "$PID"
    wait "$PID" || true
}

mkdir -p "$DIR"
if [ ! -f "$DIR/data/data.mdb" ]; then
    echo "filling $DIR with $ORDERS orders ..."
    start none
    "$BIN/orderbench" "${TARGET[@]}" --pid "$PID" --clients 64 --preload "$ORDERS" \
        --mix get=only --duration 10 --json "$DIR/gets.json" > "$DIR/fill.out" 2>&1
    stop
    echo "gets over $ORDERS stored:"
    grep -E '^(requests|  get)' "$DIR/fill.out"
    echo "gets over 10000 stored:"
    "$BIN/orderbench" --spawn --sync none --clients 64 --mix get=only --preload 10000 \
        --duration 10 2>&1 | grep -E '^(requests|  get)'
fi

if [ "$(id -u)" = 0 ]; then
    sync
    echo 3 > /proc/sys/vm/drop_caches
    start full
    echo "start-up, cold page cache: $STARTUP_MS ms until the doors answer"
    stop
fi
start full
echo "start-up, warm page cache: $STARTUP_MS ms until the doors answer"
grep -E '^(RssAnon|RssFile)' "/proc/$PID/status" | sed 's/^/idle after start-up: /'

"$BIN/orderbench" "${TARGET[@]}" --pid "$PID" --clients 128 --pipeline 4 --products 3 \
    --duration 30 --json "$DIR/peak.json" 2>&1 | grep -E '^(orders|errors|  (create|initiate|confirm))'
echo "idling 60 s (idle actors stop) ..."
sleep 60
grep -E '^(RssAnon|RssFile)' "/proc/$PID/status" | sed 's/^/idle after the load: /'
stop
