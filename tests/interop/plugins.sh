#!/usr/bin/env bash
# Interop: C plugins (include/vstor/plugin.h, tests/plugins) served by `vstor serve` and driven by
# real clients. The ramdisk plugin from the TOML file: nbdinfo (size, hole map), an nbdcopy round
# trip with a checksum, the same bytes through QEMU's iSCSI driver, its identity in iscsi-inq.
# The errors plugin added with `vstor ctl lun add`: each injected errno reaches qemu-io over NBD as
# the matching error and its message reaches the log. A rejected key and a missing file are refused
# by name. `ctl save` writes both plugin LUNs back and a restart from the saved file serves them.
set -euo pipefail
vstor=${1:?path to vstor binary}
plugins=${2:?directory of the built test plugins}
out=${3:?work directory}
rm -rf "$out"; mkdir -p "$out"
source "$(dirname "$0")/lib.sh"

iqn=iqn.2026-12.org.vstor:plugins
sock="$out/control.sock"
write_config "plugin:$plugins/ramdisk_plugin.so,size=64M,serial=rd-interop,name=rd"
serve_controlled "$out/vstor.toml"
nbd=nbd://127.0.0.1:$nport
url=iscsi://127.0.0.1:$port/$iqn

ramdisk_round_trip rd 0 VSTORTST RAMDISK-PLUGIN

echo "== ctl lun add: the errors plugin; each errno reaches the NBD client as its own error"
ctl lun add "plugin:$plugins/errors_plugin.so,name=errs"
expect_io_error "$nbd/errs" 64k read "Input/output error"
expect_io_error "$nbd/errs" 128k write "No space left on device"
expect_io_error "$nbd/errs" 192k write "Operation not permitted"
expect_io_error "$nbd/errs" 256k read "Invalid argument"
qemu-io -f raw -c "read -P 0 0 4k" "$nbd/errs" | grep "read 4096" >/dev/null || fail "the errors plugin's region 0 works"
grep -q "errors plugin: injected No space left on device on write at offset 131072" "$out/vstor.log" ||
  fail "the plugin's message is not in the log"

echo "== refusals by name: a key the plugin rejects, a missing file"
if ctl lun add "plugin:$plugins/ramdisk_plugin.so,colour=red" 2>"$out/err.txt"; then fail "rejected key accepted"; fi
grep -q "rejected colour=red: ramdisk: unknown key 'colour'" "$out/err.txt" || fail "rejected key message: $(cat "$out/err.txt")"
if ctl lun add "plugin:$out/nothing.so" 2>"$out/err.txt"; then fail "missing plugin accepted"; fi
grep -q "no such file" "$out/err.txt" || fail "missing file message: $(cat "$out/err.txt")"

echo "== ctl save writes the plugin LUNs back; a restart serves them"
ctl save "$out/saved.toml"
cat "$out/saved.toml"
grep -q "plugin:$plugins/ramdisk_plugin.so,size=64M,serial=rd-interop,name=rd" "$out/saved.toml" || fail "ramdisk spec in save"
grep -q "plugin:$plugins/errors_plugin.so,name=errs" "$out/saved.toml" || fail "errors plugin spec in save"
kill "$server"; wait "$server" 2>/dev/null || true
serve_controlled "$out/saved.toml"
list=$(nbdinfo --list "$nbd")
grep -q 'export="rd"' <<<"$list" && grep -q 'export="errs"' <<<"$list" || fail "restart from the saved file: $list"

echo "== --lun plugin: with a plugin built for a future API version: refused by name"
if "$vstor" serve --control off --listen 127.0.0.1:$(free_port) --target $iqn --lun "plugin:$plugins/future_abi_plugin.so" \
  >"$out/future.txt" 2>&1; then fail "future plugin accepted"; fi
grep -q "built for plugin API version 99" "$out/future.txt" || fail "future plugin message: $(cat "$out/future.txt")"
echo "PASS"
