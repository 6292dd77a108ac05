# Sourced by the interop scripts: the background processes they start (killed on exit), how they
# fail (with the server log's tail when there is one), free ports, and waiting for a server.
# The sourcing script sets $vstor and $out first; serve_controlled also needs $sock, write_config $iqn.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  if [ -f "${out:-}/vstor.log" ]; then tail -20 "$out/vstor.log"; fi
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT: until something accepts connections on 127.0.0.1:PORT
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "nothing listens on port $1"
}
ctl() { "$vstor" ctl --control "$sock" "$@"; }
serve_controlled() {  # serve_controlled CONFIG: `vstor serve` from CONFIG, up when `ctl status` answers
  "$vstor" serve --config "$1" --control "$sock" --log-level info >>"$out/vstor.log" 2>&1 &
  server=$!
  pids+=($server)
  for _ in $(seq 100); do
    if ctl status >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "vstor did not start"
}
write_config() {  # write_config LUN...: $out/vstor.toml, one portal ($port) and NBD listener ($nport), target $iqn
  port=$(free_port)
  nport=$(free_port)
  local luns
  luns=$(printf '"%s", ' "$@")
  cat >"$out/vstor.toml" <<TOML
[[portal]]
listen = "127.0.0.1:$port"
[nbd]
listen = ["127.0.0.1:$nport"]
[[target]]
name = "$iqn"
luns = [${luns%, }]
TOML
}
expect_io_error() {  # expect_io_error URL OFFSET read|write TEXT: qemu-io's 4 KiB I/O there fails with TEXT
  local o
  o=$(qemu-io -f raw -c "$3 $2 4k" "$1" 2>&1 || true)
  grep -q "$4" <<<"$o" || fail "$3 at $2: want '$4', got: $o"
}
