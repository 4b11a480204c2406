#!/usr/bin/env bash
# The quick start: sets everything up, builds, starts a collector on SQLite in .run/, runs an agent that scans this
# machine and reports to it, and prints the fleet summary and host list. A second run reuses what is running.
#   scripts/run.sh         start (or reuse) and print the fleet
#   scripts/run.sh stop    stop the agent and the collector (data stays in .run/)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
RUN_DIR=$TOP/.run
BUILD_DIR=${KSWEEP_BUILD_DIR:-build}
AGENT_ADDR=127.0.0.1:7443
API_ADDR=127.0.0.1:7444

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  for name in agent collector; do
    if alive "$RUN_DIR/$name.pid"; then
      kill -TERM "$(cat "$RUN_DIR/$name.pid")"
      for _ in $(seq 50); do alive "$RUN_DIR/$name.pid" || break; sleep 0.1; done
      echo "stopped $name"
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
}

if [ "${1:-}" = "stop" ]; then
  stop
  exit 0
fi

scripts/setup.sh
KSWEEP_BUILD_DIR=$BUILD_DIR scripts/build.sh -DKSWEEP_BUILD_TESTS=OFF -DKSWEEP_BUILD_BENCH=OFF >/dev/null
BIN=$TOP/$BUILD_DIR
mkdir -p "$RUN_DIR"
chmod 700 "$RUN_DIR"

# TLS on loopback too, as in production: a private CA (init), the agent enrolled with the secret, mutual TLS on the
# agent port, TLS and an admin token on the API port. The secret and the token are kept in 0600 files in .run/.
if [ ! -f "$RUN_DIR/collector/pki/ca.pem" ]; then
  "$BIN/server/ksweep-collector" init --data "$RUN_DIR/collector" --name localhost,127.0.0.1 \
    --secret-out "$RUN_DIR/enroll-secret" --token-out "$RUN_DIR/admin-token" >"$RUN_DIR/init.log"
  echo "initialised the collector's CA in $RUN_DIR/collector/pki (secret and admin token in $RUN_DIR, mode 0600)"
fi
if ! alive "$RUN_DIR/collector.pid"; then
  nohup "$BIN/server/ksweep-collector" serve --data "$RUN_DIR/collector" \
    --agent-listen "$AGENT_ADDR" --api-listen "$API_ADDR" >"$RUN_DIR/collector.log" 2>&1 &
  echo $! >"$RUN_DIR/collector.pid"
  echo "started collector (pid $(cat "$RUN_DIR/collector.pid"), data in $RUN_DIR/collector, log $RUN_DIR/collector.log)"
  for _ in $(seq 100); do [ -f "$RUN_DIR/collector/collector.ports" ] && break; sleep 0.1; done
fi
if [ ! -f "$RUN_DIR/agent/tls/agent.pem" ]; then
  "$BIN/agent/ksweep-agent" enroll --server "$AGENT_ADDR" --ca-cert "$RUN_DIR/collector/pki/ca.pem" \
    --secret-file "$RUN_DIR/enroll-secret" --state-dir "$RUN_DIR/agent" --root / >"$RUN_DIR/enroll.log"
  echo "enrolled this machine (key and certificate in $RUN_DIR/agent/tls)"
fi
if ! alive "$RUN_DIR/agent.pid"; then
  nohup "$BIN/agent/ksweep-agent" run --server "$AGENT_ADDR" --state-dir "$RUN_DIR/agent" --root / \
    >"$RUN_DIR/agent.log" 2>&1 &
  echo $! >"$RUN_DIR/agent.pid"
  echo "started agent (pid $(cat "$RUN_DIR/agent.pid"), log $RUN_DIR/agent.log)"
fi

export KSWEEP_SERVER=$API_ADDR
export KSWEEP_CA_CERT=$RUN_DIR/collector/pki/ca.pem
export KSWEEP_TOKEN_FILE=$RUN_DIR/admin-token
# Wait (bounded) until this machine's report is stored.
for _ in $(seq 100); do
  if "$BIN/cli/ksweep" hosts -o csv 2>/dev/null | tail -n +2 | grep -q .; then break; fi
  if ! alive "$RUN_DIR/collector.pid"; then echo "collector exited: see $RUN_DIR/collector.log" >&2; exit 1; fi
  if ! alive "$RUN_DIR/agent.pid"; then echo "agent exited: see $RUN_DIR/agent.log" >&2; exit 1; fi
  sleep 0.2
done

echo
"$BIN/cli/ksweep" summary
echo
"$BIN/cli/ksweep" hosts
cat <<EOT

This machine, one-off:   $BIN/agent/ksweep-agent scan
Query the fleet:         KSWEEP_SERVER=$API_ADDR KSWEEP_CA_CERT=$KSWEEP_CA_CERT KSWEEP_TOKEN_FILE=$KSWEEP_TOKEN_FILE \\
                           $BIN/cli/ksweep hosts --verdict running,installed
Stop both:               scripts/run.sh stop
EOT
