#!/usr/bin/env bash
# Builds what the guest-kernel test boots, cached under OUT (a build directory):
#   OUT/vmlinuz         Debian's cloud kernel (linux-image-cloud-amd64), unpacked from its .deb
#   OUT/initramfs.cpio.gz  busybox-static, the kernel modules the guest loads (with their
#                       dependencies from modules.dep), sg3-utils, e2fsprogs, util-linux fstrim and blkdiscard
#                       with the shared libraries ldd reports, and tests/guest/init as /init.
# Nothing is installed on the host: the kernel package is fetched with `apt-get download` and
# unpacked with `dpkg-deb -x`. Each step is skipped when its inputs have not changed.
set -euo pipefail
out=${1:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { echo "build-initramfs: $*" >&2; }
die() { echo "build-initramfs: error: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- kernel ---------------------------------------------------------------------------------
# linux-image-cloud-amd64 is a metapackage; the kernel is the linux-image-*-cloud-amd64 it
# depends on. Package lists may be empty on a fresh machine: update them once in that case.
kernel_pkg() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1
}
kdir=$out/kernel
pkg=$(kernel_pkg)
if [ -z "$pkg" ]; then
  if ls "$kdir"/*.deb >/dev/null 2>&1; then
    log "package lists unavailable; using the cached kernel"
    pkg=$(cat "$kdir/package")
  else
    log "no package lists; running apt-get update"
    as_root apt-get update -qq
    pkg=$(kernel_pkg)
    [ -n "$pkg" ] || die "apt cannot resolve linux-image-cloud-amd64"
  fi
fi
kver=${pkg#linux-image-}
download() {  # download PKG DIR: apt-get download into DIR (as root, apt's _apt sandbox cannot
  # write there: only a warning)
  (cd "$2" && apt-get download "$1" 2>&1 | grep -v 'unsandboxed as root') || true
  ls "$2/$1"_*.deb >/dev/null 2>&1
}
if [ ! -f "$kdir/root/boot/vmlinuz-$kver" ] || [ "$(cat "$kdir/package" 2>/dev/null)" != "$pkg" ]; then
  log "fetching $pkg"
  new=$out/kernel.new
  rm -rf "$new"
  mkdir -p "$new"
  if ! download "$pkg" "$new"; then
    # stale package lists name a version the mirror no longer has
    log "apt-get download failed; updating the package lists and retrying"
    as_root apt-get update -qq
    pkg=$(kernel_pkg)
    kver=${pkg#linux-image-}
    download "$pkg" "$new" || die "apt-get download $pkg failed"
  fi
  dpkg-deb -x "$new"/"$pkg"_*.deb "$new/root"
  # The .deb carries no modules.dep (depmod runs at install time); busybox's depmod builds it.
  busybox depmod -b "$new/root" "$kver"
  echo "$pkg" >"$new/package"
  rm -rf "$kdir"
  mv "$new" "$kdir"
fi
ln -sf "kernel/root/boot/vmlinuz-$kver" "$out/vmlinuz"
moddir=$kdir/root/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "no modules.dep in $moddir"

# ---- initramfs inputs -----------------------------------------------------------------------
# Modules the guest loads: virtio PCI transport, virtio-scsi HBA, SCSI disk and generic (sg)
# drivers, virtio-blk (NBD variant). ext4, jbd2, mbcache, crc16 and crc32c are built into
# the cloud kernel (modules.builtin); any that are modules are pulled in here.
want_modules=(virtio_pci virtio_scsi sd_mod sg virtio_blk)
for m in ext4 jbd2 mbcache crc16 crc32c_generic; do
  if ! grep -q "/$m.ko" "$moddir/modules.builtin"; then want_modules+=("$m"); fi
done
tools=(sg_inq sg_vpd sg_readcap sg_get_lba_status mkfs.ext4 e2fsck fstrim blkdiscard)

declare -A seen=()
ordered=()
visit() {  # depth-first over modules.dep: dependencies before the module that needs them
  local rel=$1 dep
  [ -n "${seen[$rel]:-}" ] && return 0
  seen[$rel]=1
  local line
  line=$(grep -m1 "^$rel:" "$moddir/modules.dep") || die "module $rel not in modules.dep"
  for dep in ${line#*:}; do visit "$dep"; done
  ordered+=("$rel")
}
for m in "${want_modules[@]}"; do
  rel=$(grep -m1 -E "(^|/)$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | cut -d: -f1) ||
    die "module $m not found in $moddir"
  visit "$rel"
done

tool_paths=()
for t in "${tools[@]}"; do
  p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$t") || die "$t not installed (scripts/install-deps)"
  tool_paths+=("$p")
done
libs=()
for p in "${tool_paths[@]}"; do
  while read -r lib; do libs+=("$lib"); done < <(ldd "$p" | grep -oE '/[^ ]+' | sort -u)
done
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)
busybox_bin=$(command -v busybox)

# The cache key: this script, /init, the kernel package, and every binary copied in.
key=$( {
  cat "$0" "$here/init"
  echo "$pkg" "${ordered[@]}"
  for f in "$busybox_bin" "${tool_paths[@]}" "${libs[@]}" /etc/mke2fs.conf; do
    stat -L -c '%n %s %Y' "$f"
  done
} | sha256sum | cut -d' ' -f1)
if [ -f "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/initramfs.key" 2>/dev/null)" = "$key" ]; then
  log "initramfs up to date"
  exit 0
fi

# ---- assemble -------------------------------------------------------------------------------
log "assembling initramfs (${#ordered[@]} modules, ${#tool_paths[@]} tools, ${#libs[@]} libraries)"
root=$out/initramfs.root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,lib/modules}
cp "$busybox_bin" "$root/bin/busybox"
for a in $(busybox --list); do
  [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
for p in "${tool_paths[@]}"; do cp -L "$p" "$root/sbin/$(basename "$p")"; done
for lib in "${libs[@]}"; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp /etc/mke2fs.conf "$root/etc/"
: >"$root/etc/modules.list"
for rel in "${ordered[@]}"; do
  cp "$moddir/$rel" "$root/lib/modules/"
  basename "$rel" >>"$root/etc/modules.list"
done
install -m 0755 "$here/init" "$root/init"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
  gzip -1 >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "$key" >"$out/initramfs.key"
log "wrote $out/initramfs.cpio.gz ($(du -h "$out/initramfs.cpio.gz" | cut -f1))"
