#!/usr/bin/env bash
# A private, real OpenStack Placement 16.0.0 on 127.0.0.1 for the fleet tests.
#   sandbox.sh start DIR   -> prints http://127.0.0.1:PORT once GET / answers
#   sandbox.sh stop DIR    -> stops only the server it started (PID file + cmdline check)
# SQLite database and noauth2 (token "admin"), single-threaded server. The venv comes from
# tests/placement/setup-venv.sh (cached under target/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?start|stop}
dir=${2:?DIR}
VENV=${VIFMAN_PLACEMENT_VENV:-$here/../../target/placement-venv}

case "$cmd" in
start)
  "$here/setup-venv.sh" >&2
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  touch "$dir/.vifman-placement-sandbox"
  cat > "$dir/placement.conf" <<CONF
[DEFAULT]
debug = false
[api]
auth_strategy = noauth2
[placement_database]
connection = sqlite:///$dir/placement.db
CONF
  "$VENV/bin/placement-manage" --config-file "$dir/placement.conf" db sync >"$dir/dbsync.log" 2>&1 || { cat "$dir/dbsync.log" >&2; exit 1; }
  rm -f "$dir/port"
  OS_PLACEMENT_CONFIG_DIR="$dir" setsid "$VENV/bin/python" -W ignore "$here/serve.py" "$dir/port" >"$dir/server.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  for _ in $(seq 1 300); do
    if [ -s "$dir/port" ]; then
      port=$(cat "$dir/port")
      if python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).read()
PY
      then
        echo "http://127.0.0.1:$port"
        exit 0
      fi
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "placement did not start:" >&2
  tail -20 "$dir/server.log" >&2
  "$0" stop "$dir" || true
  exit 1
  ;;
stop)
  [ -f "$dir/.vifman-placement-sandbox" ] || { echo "$dir is not a placement sandbox" >&2; exit 1; }
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$dir/port"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/pid" "$dir/port"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
