#!/usr/bin/env bash
# Makes sure the local PostgreSQL (127.0.0.1:5432) and NATS with JetStream
# (127.0.0.1:4222) that Keyway's tests use are running, starting them with
# this machine kind's own start commands when they are down.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  return 1
}

if ! port_open 5432; then
  echo "ensure-services: PostgreSQL is down; starting it" >&2
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "ensure-services: no pg_ctlcluster here; start PostgreSQL on 127.0.0.1:5432 yourself" >&2
    exit 1
  fi
  wait_for_port 5432 || { echo "ensure-services: PostgreSQL did not come up" >&2; exit 1; }
fi

# The fault tests run private nats-server instances of their own.
if [ ! -x /usr/sbin/nats-server ] && ! command -v nats-server >/dev/null; then
  echo "ensure-services: installing nats-server (Debian)" >&2
  apt-get install -y nats-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nats-server >/dev/null; }
fi

if ! port_open 4222; then
  echo "ensure-services: NATS is down; starting it with JetStream" >&2
  if [ -x /usr/sbin/nats-server ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  else
    echo "ensure-services: no nats-server here; install it (apt-get install nats-server) or start NATS on 127.0.0.1:4222" >&2
    exit 1
  fi
  wait_for_port 4222 || { echo "ensure-services: NATS did not come up" >&2; exit 1; }
fi
echo "ensure-services: PostgreSQL and NATS are up" >&2
