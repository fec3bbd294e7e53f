#!/usr/bin/env bash
# curl against every KV, session and txn endpoint of consul-compat.md (§0, §1, §3), checking status codes,
# headers and bodies as Consul's own clients would see them. Usage: curl-suite.sh http://127.0.0.1:PORT
# Prints one line per failed check and a summary; exits 1 when any check failed. Needs curl and jq.
set -u
BASE=${1:?usage: curl-suite.sh BASE_URL}
CHECKS=0
FAILS=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CASE=""

# req METHOD PATH [curl args...]: sets STATUS, BODY (the raw body is kept in $WORK/body) and HEADERS (lowercase names).
req() {
  local method=$1 path=$2
  shift 2
  CASE="$method $path"
  STATUS=$(curl -sS --max-time 20 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "$@" "$BASE$path")
  BODY=$(cat "$WORK/body")
  HEADERS=$(tr -d '\r' <"$WORK/headers" | sed -E 's/^([^:]+):/\L\1:/')
}

fail() {
  FAILS=$((FAILS + 1))
  echo "FAIL [$CASE] $*"
}
status() {
  CHECKS=$((CHECKS + 1))
  [ "$STATUS" = "$1" ] || fail "status $STATUS, want $1 (body: ${BODY:0:200})"
}
body() {
  CHECKS=$((CHECKS + 1))
  [ "$BODY" = "$1" ] || fail "body '${BODY:0:200}', want '$1'"
}
body_matches() {
  CHECKS=$((CHECKS + 1))
  [[ "$BODY" =~ $1 ]] || fail "body '${BODY:0:200}' does not match /$1/"
}
# header NAME REGEX: the header is present and its value matches.
header() {
  CHECKS=$((CHECKS + 1))
  local v
  v=$(printf '%s\n' "$HEADERS" | grep -i "^$1:" | head -1 | sed -E 's/^[^:]+: ?//')
  [[ -n "$v" && "$v" =~ $2 ]] || fail "header $1 '$v' does not match /$2/"
}
no_header() {
  CHECKS=$((CHECKS + 1))
  if printf '%s\n' "$HEADERS" | grep -qi "^$1:"; then fail "unexpected header $1"; fi
}
# json JQ WANT: jq -c of the body equals WANT.
json() {
  CHECKS=$((CHECKS + 1))
  local got
  got=$(jq -c "$1" <"$WORK/body" 2>&1)
  [ "$got" = "$2" ] || fail "jq '$1' = $got, want $2"
}
hdr() { printf '%s\n' "$HEADERS" | grep -i "^$1:" | head -1 | sed -E 's/^[^:]+: ?//'; }

# --- §0 cross-cutting --------------------------------------------------------------------------------------
req GET /v1/nope
status 404
body "Invalid URL path: not a recognized HTTP API endpoint"
req PATCH /v1/kv/x
status 405
header allow '^OPTIONS,GET,PUT,DELETE$'
body "method PATCH not allowed"
req OPTIONS /v1/kv/x
status 200
header allow '^OPTIONS,GET,PUT,DELETE$'
body ""
req GET /v1/txn
status 405
header allow '^OPTIONS,PUT$'
req GET /v1/session/create
status 405
req GET '/v1/kv/x?stale&consistent'
status 400
body "Cannot specify ?stale with ?consistent, conflicting semantics."
req GET '/v1/kv/x?index=abc'
status 400
body "Invalid index"
req GET '/v1/kv/x?wait=soon'
status 400
body "Invalid wait time"
req GET '/v1/kv/x?dc=elsewhere'
status 500
body "No path to datacenter"

# --- §1.3 PUT ------------------------------------------------------------------------------------------------
req PUT /v1/kv/curl/a --data-binary hello
status 200
body true
header content-type '^application/json'
header x-consul-default-acl-policy '^allow$'
req PUT '/v1/kv/curl/b?flags=5' --data-binary ''
status 200
body true
req PUT '/v1/kv/curl/dir/c' --data-binary 'c'
body true
req PUT '/v1/kv/curl/a?cas=0' --data-binary nope
status 200
body false
req PUT '/v1/kv/curl/a?cas=1&acquire=x' --data-binary nope
status 400
body_matches '^Conflicting flags: '
# Consul's KVSPut returns the strconv error as it is: a 500 (agent/kvs_endpoint.go).
req PUT '/v1/kv/curl/a?flags=abc' --data-binary nope
status 500
body 'strconv.ParseUint: parsing "abc": invalid syntax'
req PUT /v1/kv/ --data-binary nope
status 400
body "Missing key name"
head -c 600000 /dev/zero >"$WORK/big"
req PUT /v1/kv/curl/big --data-binary "@$WORK/big"
status 413
body_matches '^Request body\(600000 bytes\) too large, max size: 524288 bytes\.'

# --- §1.2 GET --------------------------------------------------------------------------------------------------
req GET /v1/kv/curl/a
status 200
header content-type '^application/json$'
header x-consul-index '^[1-9][0-9]*$'
header x-consul-knownleader '^true$'
header x-consul-lastcontact '^[0-9]+$'
json '.[0] | [.Key, .Value, .Flags, .LockIndex, (.CreateIndex > 0), (.ModifyIndex == .CreateIndex)]' \
  '["curl/a","aGVsbG8=",0,0,true,true]'
json '.[0] | has("Session")' false
json '.[0] | keys_unsorted' '["LockIndex","Key","Flags","Value","CreateIndex","ModifyIndex"]'
A_INDEX=$(jq '.[0].ModifyIndex' <"$WORK/body")
[ "$(hdr x-consul-index)" = "$A_INDEX" ] || fail "X-Consul-Index $(hdr x-consul-index) != ModifyIndex $A_INDEX"
req GET /v1/kv/curl/b
json '.[0] | [.Flags, .Value]' '[5,null]'
req GET '/v1/kv/curl/a?raw'
status 200
body hello
header content-type '^text/plain'
header x-content-type-options '^nosniff$'
req GET '/v1/kv/curl/a?pretty'
body_matches $'^\\[\n    \\{'
req GET /v1/kv/curl/missing
status 404
body ""
header x-consul-index '^[1-9][0-9]*$'
req GET '/v1/kv/curl/?recurse'
status 200
json '[.[].Key]' '["curl/a","curl/b","curl/dir/c"]'
req GET '/v1/kv/curl/?recurse=false'
json 'length' 3
req GET '/v1/kv/curl/?keys&separator=/'
status 200
json '.' '["curl/a","curl/b","curl/dir/"]'
req GET '/v1/kv/curl/?keys'
json '.' '["curl/a","curl/b","curl/dir/c"]'
req GET '/v1/kv/nothing-here/?keys'
status 404
req GET '/v1/kv/?keys'
status 200
req GET '/v1/kv/curl/a?stale'
status 200
req GET '/v1/kv/curl/a?consistent'
status 200
# A blocking read on an unchanged key returns after the wait with the same index.
t0=$(date +%s%N)
req GET "/v1/kv/curl/a?index=$A_INDEX&wait=1s"
t1=$(date +%s%N)
status 200
header x-consul-index "^$A_INDEX\$"
CHECKS=$((CHECKS + 1))
[ $(((t1 - t0) / 1000000)) -ge 900 ] || fail "blocking read returned after $(((t1 - t0) / 1000000)) ms, before its wait"
# ... and wakes at once on a write.
(sleep 0.5 && curl -sS -X PUT --data-binary hello2 "$BASE/v1/kv/curl/a" >/dev/null) &
t0=$(date +%s%N)
req GET "/v1/kv/curl/a?index=$A_INDEX&wait=10s"
t1=$(date +%s%N)
wait
status 200
json '.[0].Value' '"aGVsbG8y"'
CHECKS=$((CHECKS + 1))
[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "blocking read did not wake on a write"

# --- §1.3 cas, §1.4 DELETE -------------------------------------------------------------------------------------
req GET /v1/kv/curl/a
MOD=$(jq '.[0].ModifyIndex' <"$WORK/body")
req PUT "/v1/kv/curl/a?cas=$((MOD - 1))" --data-binary x
body false
req PUT "/v1/kv/curl/a?cas=$MOD" --data-binary casd
body true
req GET /v1/kv/curl/a
MOD=$(jq '.[0].ModifyIndex' <"$WORK/body")
req DELETE "/v1/kv/curl/a?cas=$((MOD + 1))"
status 200
body false
req DELETE "/v1/kv/curl/a?cas=$MOD"
body true
req DELETE /v1/kv/curl/a
status 200
body true
req DELETE '/v1/kv/curl/?recurse&cas=1'
status 400
body_matches '^Conflicting flags: '
req DELETE '/v1/kv/curl/?recurse'
body true
req GET '/v1/kv/curl/?recurse'
status 404

# --- §3 sessions and locks -------------------------------------------------------------------------------------
# A bad TTL or Behavior is a plain error of agent/consul/session_endpoint.go Apply: 500; a bad body, 400.
req PUT /v1/session/create -d '{"Name":"curl","TTL":"15s","LockDelay":"1s","Behavior":"release"}'
status 200
header content-type '^application/json'
json 'keys' '["ID"]'
SID=$(jq -r .ID <"$WORK/body")
req PUT /v1/session/create -d '{"TTL":"15s"}'
SID2=$(jq -r .ID <"$WORK/body")
req PUT /v1/session/create -d '{"TTL":"5"}'
status 500
body "Session TTL '5' invalid: time: missing unit in duration \"5\""
req PUT /v1/session/create -d '{"TTL":"5s"}'
status 500
body "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"
req PUT /v1/session/create -d '{"Name":'
status 400
body_matches '^Request decode failed: '
req PUT /v1/session/create -d '{"Behavior":"explode"}'
status 500
body "Invalid Behavior setting 'explode'"
req PUT /v1/session/create
status 200
SID3=$(jq -r .ID <"$WORK/body")
req GET "/v1/session/info/$SID"
status 200
header x-consul-index '^[1-9][0-9]*$'
header x-consul-knownleader '^true$'
json '.[0] | [.ID, .Name, .LockDelay, .Behavior, .TTL, .NodeChecks]' "[\"$SID\",\"curl\",1000000000,\"release\",\"15s\",[\"serfHealth\"]]"
req GET "/v1/session/info/$SID3"
json '.[0] | [.LockDelay, .Behavior, .TTL]' '[15000000000,"release",""]'
NODE=$(jq -r '.[0].Node' <"$WORK/body")
req GET /v1/session/info/00000000-0000-0000-0000-000000000000
status 200
body "[]"
req GET /v1/session/list
status 200
json "[.[].ID] | (index(\"$SID\") != null) and (index(\"$SID2\") != null)" true
req GET "/v1/session/node/$NODE"
status 200
json "[.[].ID] | index(\"$SID\") != null" true
req PUT "/v1/session/renew/$SID"
status 200
json '.[0].ID' "\"$SID\""
req PUT /v1/session/renew/00000000-0000-0000-0000-000000000000
status 404
body "Session id '00000000-0000-0000-0000-000000000000' not found"
req PUT "/v1/kv/curl-lock?acquire=$SID" --data-binary mine
status 200
body true
req PUT "/v1/kv/curl-lock?acquire=$SID2" --data-binary theirs
body false
req GET /v1/kv/curl-lock
json '.[0] | [.Session, .LockIndex, .Value]' "[\"$SID\",1,\"bWluZQ==\"]"
req PUT /v1/kv/curl-lock --data-binary plain
body true
# Consul's kvsSetTxn keeps the holder on a plain PUT but takes LockIndex from the request (0).
req GET /v1/kv/curl-lock
json '.[0] | [.Session, .LockIndex]' "[\"$SID\",0]"
req PUT "/v1/kv/curl-lock?release=$SID2" --data-binary x
body false
req PUT "/v1/kv/curl-lock?release=$SID" --data-binary released
body true
req GET /v1/kv/curl-lock
json '.[0] | [has("Session"), .LockIndex]' '[false,0]'
req PUT "/v1/kv/curl-lock?acquire=$SID" --data-binary again
body true
# Acquiring with a gone session is a 500 (agent/consul/state/kvs.go kvsLockTxn); applications branch on it.
req PUT /v1/kv/curl-lock?acquire=00000000-0000-0000-0000-000000000000 --data-binary x
status 500
body 'invalid session "00000000-0000-0000-0000-000000000000"'
# Release does not look the session up (kvsUnlockTxn): a gone session does not hold the lock, so false.
req PUT /v1/kv/curl-lock?release=00000000-0000-0000-0000-000000000000 --data-binary x
status 200
body false
req PUT "/v1/session/destroy/$SID"
status 200
body true
req GET /v1/kv/curl-lock
json '.[0] | has("Session")' false
# Invalidation (not a voluntary release) starts the lock-delay: an acquire inside it is refused.
req PUT "/v1/kv/curl-lock?acquire=$SID2" --data-binary x
body false
req GET "/v1/session/info/$SID"
body "[]"
req PUT "/v1/session/destroy/$SID2"
body true
req PUT "/v1/session/destroy/$SID3"
body true

# --- §1.5 txn -------------------------------------------------------------------------------------------------
V1=$(printf 1 | base64)
req PUT /v1/txn -d "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"curl-txn/a\",\"Value\":\"$V1\"}},{\"KV\":{\"Verb\":\"get\",\"Key\":\"curl-txn/a\"}},{\"KV\":{\"Verb\":\"delete\",\"Key\":\"curl-txn/none\"}}]"
status 200
header content-type '^application/json'
json '.Errors' null
json '.Results | length' 2
json '.Results[0].KV | [.Key, .Value]' '["curl-txn/a",null]'
json '.Results[1].KV | [.Key, .Value]' "[\"curl-txn/a\",\"$V1\"]"
TXN_INDEX=$(jq '.Results[0].KV.ModifyIndex' <"$WORK/body")
req PUT /v1/txn -d "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"curl-txn/b\",\"Value\":\"$V1\"}},{\"KV\":{\"Verb\":\"cas\",\"Key\":\"curl-txn/a\",\"Index\":$((TXN_INDEX + 7)),\"Value\":\"$V1\"}}]"
status 409
json '.Results' null
json '.Errors[0].OpIndex' 1
json '.Errors[0].What | test("index")' true
req GET /v1/kv/curl-txn/b
status 404
req PUT /v1/txn -d '[{"KV":{"Verb":"check-index","Key":"curl-txn/a","Index":1}}]'
status 409
req PUT /v1/txn -d '[{"KV":{"Verb":"get-tree","Key":"curl-txn/"}}]'
status 200
header x-consul-knownleader '^true$'
json '[.Results[].KV.Key]' '["curl-txn/a"]'
req PUT /v1/txn -d '[{"KV":{"Verb":"explode","Key":"x"}}]'
status 409
json '.Errors[0].What' '"unknown KV verb \"explode\""'
req PUT /v1/txn -d '[{"KV":'
status 400
ops=$(for i in $(seq 1 129); do printf '{"KV":{"Verb":"get-or-empty","Key":"k%d"}},' "$i"; done)
req PUT /v1/txn -d "[${ops%,}]"
status 413
body "Transaction contains too many operations (129 > 128)"
req GET /v1/kv/curl-txn/a
json '.[0].ModifyIndex' "$TXN_INDEX"

# --- §2 status -------------------------------------------------------------------------------------------------
req GET /v1/status/leader
status 200
body_matches '^"[0-9.]+:[0-9]+"$'
req GET /v1/status/peers
status 200
json 'length' 3

echo "curl suite: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
