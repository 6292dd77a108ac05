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
nbdcopy_round_trip() {  # nbdcopy_round_trip SIZE URL: SIZE (as head -c takes it) random bytes to URL
  # by nbdcopy and back; the first SIZE bytes read back must be them. Leaves $out/random.img,
  # $out/back.img and their SHA-256 in $want.
  head -c "$1" /dev/urandom >"$out/random.img"
  want=$(sha256sum <"$out/random.img" | cut -d' ' -f1)
  nbdcopy "$out/random.img" "$2"
  nbdcopy "$2" "$out/back.img"
  [ "$(head -c "$1" "$out/back.img" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "nbdcopy round trip checksum"
}
ramdisk_round_trip() {  # ramdisk_round_trip EXPORT LUN VENDOR PRODUCT: a fresh 64 MiB RAM disk LUN
  # (NBD $nbd/EXPORT, iSCSI $url/LUN): size and hole map by nbdinfo, 32 MiB there and back by
  # nbdcopy (checksum; the rest reads as zeroes), the same bytes through QEMU's iSCSI driver, the
  # data/hole map after, and the INQUIRY identity.
  local map want
  echo "== nbdinfo: size and a fresh RAM disk's map (the LUN's extents)"
  nbdinfo "$nbd/$1" >"$out/info.txt"
  grep -q 'export-size: 67108864' "$out/info.txt" || fail "RAM disk export size: $(cat "$out/info.txt")"
  map=$(nbdinfo --map "$nbd/$1")
  [ "$(wc -l <<<"$map")" -eq 1 ] && grep -q 'hole' <<<"$map" || fail "fresh RAM disk map: $map"
  echo "== nbdcopy: 32 MiB there and back, then the same bytes over iSCSI (QEMU's driver)"
  nbdcopy_round_trip 32M "$nbd/$1"
  [ "$(tail -c 32M "$out/back.img" | tr -d '\0' | wc -c)" -eq 0 ] || fail "the unwritten half is not zero"
  qemu-img convert -f raw -O raw "$url/$2" "$out/iscsi.img"
  [ "$(head -c 32M "$out/iscsi.img" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "iSCSI read-back checksum"
  map=$(nbdinfo --map "$nbd/$1")
  grep -Eq '^ *0 +33554432 +0 +data' <<<"$map" && grep -Eq '^ *33554432 +33554432 +3 +hole' <<<"$map" ||
    fail "map after writing 32 MiB: $map"
  iscsi-inq "$url/$2" >"$out/inq.txt"
  grep -q "Vendor:$3" "$out/inq.txt" || fail "vendor $3 in INQUIRY: $(cat "$out/inq.txt")"
  grep -q "Product:$4" "$out/inq.txt" || fail "product $4 in INQUIRY: $(cat "$out/inq.txt")"
}
