#!/usr/bin/env bash
# Start a 3-node NATS JetStream cluster on loopback from cluster.conf, for
# trying R3 streams and leader failover on one machine. It never touches a
# server on the default ports: pick a free base port.
#
#   infra/nats/run-local-cluster.sh [BASE] [--foreground]   (default BASE=14222)
#
# Node i (1..3) listens on:
#   clients  BASE + i - 1            (14222, 14223, 14224)
#   routes   BASE + 2000 + i - 1     (16222, 16223, 16224)
#   monitor  BASE + 4000 + i - 1     (18222, 18223, 18224)
# Storage goes under $NATS_CLUSTER_DIR (default: a new mktemp -d directory).
#
# It prints the PIDs and a KEYWAY_NATS_URL; stop the nodes with
#   kill <pid1> <pid2> <pid3>
# (or Ctrl-C when run with --foreground).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${1:-14222}"
foreground="${2:-}"
nats_server="${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
dir="${NATS_CLUSTER_DIR:-$(mktemp -d -t keyway-nats-cluster.XXXXXX)}"

route() { echo "nats-route://127.0.0.1:$((base + 2000 + $1 - 1))"; }

pids=()
for i in 1 2 3; do
  mkdir -p "$dir/n$i"
  NATS_SERVER_NAME="keyway-nats-$i" \
  NATS_HOST=127.0.0.1 \
  NATS_PORT=$((base + i - 1)) \
  NATS_CLUSTER_PORT=$((base + 2000 + i - 1)) \
  NATS_HTTP_PORT=$((base + 4000 + i - 1)) \
  NATS_ROUTE_1="$(route 1)" NATS_ROUTE_2="$(route 2)" NATS_ROUTE_3="$(route 3)" \
  NATS_STORE_DIR="$dir/n$i/store" \
    "$nats_server" -c "$here/cluster.conf" -l "$dir/n$i/nats.log" &
  pids+=("$!")
done

echo "nats cluster: pids ${pids[*]}, data and logs in $dir"
# One seed URL is enough: the server tells clients about the other nodes.
echo "KEYWAY_NATS_URL=nats://127.0.0.1:${base}"
echo "monitor: http://127.0.0.1:$((base + 4000))/routez  /jsz"

if [[ "$foreground" == "--foreground" ]]; then
  trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; exit 0' INT TERM
  wait "${pids[@]}"
fi
