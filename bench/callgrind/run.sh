#!/usr/bin/env bash
# bench/callgrind/run.sh BIN METRICS(0|1) KIND N OUTDIR: the server under callgrind, instrumentation on only
# around N requests of KIND; prints instructions per request.
set -euo pipefail
BIN=$1 METRICS=$2 KIND=$3 N=$4 OUT=$5
mkdir -p "$OUT"; dir=$(mktemp -d); port=$((20000 + RANDOM % 10000)); mport=$((port + 1))
cat >"$dir/c.toml" <<T
issuer = "http://127.0.0.1:$port"
listen = "127.0.0.1:$port"
database_url = "sqlite://$dir/db.sqlite"
keys_dir = "$dir/keys"
$([ "$METRICS" = 1 ] && echo "metrics_listen = \"127.0.0.1:$mport\"")
[login_limits]
per_account_per_minute = 1000000000
per_ip_per_minute = 1000000000
[[clients]]
client_id = "bench"
name = "Bench"
client_secret = "bench-client-secret-0123456789"
redirect_uris = ["http://127.0.0.1:9/cb"]
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
require_pkce = true
skip_consent = true
T
"$BIN" migrate --config "$dir/c.toml" >/dev/null 2>&1
echo bench-password-1 | "$BIN" users add --config "$dir/c.toml" --email bench@example.com --name Bench --company-id 0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55 >/dev/null 2>&1
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.$KIND.m$METRICS" \
  "$BIN" serve --config "$dir/c.toml" >"$OUT/server.m$METRICS.log" 2>&1 &
pid=$!
for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health/live" 2>/dev/null && break; sleep 0.5; done
tok=$(python3 "$(dirname "$0")/drive.py" $port token 0 1)
python3 "$(dirname "$0")/drive.py" $port $KIND 200 2 "$tok"      # warm: pools, thread-local handles, caches
callgrind_control -i on $pid >/dev/null
python3 "$(dirname "$0")/drive.py" $port $KIND $N 2 "$tok"
callgrind_control -i off $pid >/dev/null
[ "$METRICS" = 1 ] && curl -fsS "http://127.0.0.1:$mport/metrics" | grep -c . >/dev/null || true
kill $pid; wait $pid 2>/dev/null || true
ir=$(callgrind_annotate "$OUT/cg.$KIND.m$METRICS" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'); ir=${ir:-0}
echo "$KIND metrics=$METRICS: $ir Ir over $N requests = $((ir / N)) Ir/request"
rm -rf "$dir"
