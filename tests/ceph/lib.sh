# Shared by the ceph label's scripts (source it): gateways on one image, ports, libiscsi's results.
# The callers set vstor, out (work directory) and iqn, and define fail().

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The id of rbd image POOL/NAME in the cluster.
image_id() { rbd info "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# gateway NAME PORT GROUP POOL/IMAGE[,OPTIONS]: serve the image in the background as port group
# GROUP and relative port GROUP, control socket $out/NAME.sock, log $out/NAME.log ($! is its PID).
gateway() {
  "$vstor" serve --control "$out/$1.sock" --listen "127.0.0.1:$2" --target "$iqn" --port-group "$3" \
    --relative-port "$3" --lun "rbd:$4,conf=$CEPH_CONF" >>"$out/$1.log" 2>&1 &
}

# wait_up PID NAME: until gateway NAME answers on its control socket (30 s). The socket is
# claimed before the LUNs are built and answered once they are, so a `ctl` call meanwhile waits:
# each try is bounded too, so that a start stuck on the cluster fails here, with the logs.
wait_up() {
  local end=$(( $(date +%s) + 30 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if timeout 5 "$vstor" ctl --control "$out/$2.sock" status >/dev/null 2>&1; then return 0; fi
    kill -0 "$1" 2>/dev/null || fail "gateway $2 exited"
    sleep 0.1
  done
  fail "gateway $2 did not start within 30 s"
}

# two_gateways POOL/IMAGE [B_OPTIONS]: gateways a (port group and relative port 1) and b (2)
# serving the image (b with ,B_OPTIONS added to its spec), both answering; sets pid_a and pid_b
# (for the caller's cleanup), url_a and url_b.
two_gateways() {
  local port_a port_b
  port_a=$(free_port)
  port_b=$(free_port)
  gateway a "$port_a" 1 "$1"; pid_a=$!
  gateway b "$port_b" 2 "$1${2:+,$2}"; pid_b=$!
  wait_up "$pid_a" a
  wait_up "$pid_b" b
  url_a=iscsi://127.0.0.1:$port_a/$iqn/0
  url_b=iscsi://127.0.0.1:$port_b/$iqn/0
}

# cunit_tally LOG RESULTS: iscsi-test-cu's output in LOG as one "NAME passed|failed|skipped" line
# per test in RESULTS (printed), and the counts in $passed, $failed, $skipped.
cunit_tally() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../conformance/parse_cunit.py" "$1" >"$2"
  cat "$2"
  passed=$(grep -c ' passed$' "$2" || true)
  failed=$(grep -c ' failed$' "$2" || true)
  skipped=$(grep -c ' skipped$' "$2" || true)
  echo "$passed passed, $failed failed, $skipped skipped"
}
