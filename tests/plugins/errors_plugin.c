/* A 1 MiB vstor plugin whose 64 KiB regions fail with a chosen errno, to check that each errno
 * becomes the right SCSI sense and that the message reaches the log:
 *   region 0 (offset 0)       works (reads zeroes, writes are dropped)
 *   region 1 (offset 64K)     EIO      region 2 (128K) ENOSPC   region 3 (192K) EROFS
 *   region 4 (offset 256K)    EINVAL   region 5 (320K) ENOMEM
 *   region 6 (offset 384K)    EIO through errno alone (no vstor_plugin_set_error)
 * Any config key is refused with a message. Thread model SERIALIZE_ALL. */
#include <errno.h>
#include <string.h>

#include "vstor/plugin.h"

#define REGION 65536u

static int token; /* the handle: any non-NULL pointer */

static int fail_for(uint64_t offset, const char *op) {
  static const int errnos[] = {0, EIO, ENOSPC, EROFS, EINVAL, ENOMEM};
  const uint64_t region = offset / REGION;
  if (region == 6) {
    errno = EIO;
    return -1;
  }
  if (region == 0 || region >= sizeof errnos / sizeof errnos[0]) return 0;
  vstor_plugin_set_error(errnos[region], "errors plugin: injected %s on %s at offset %llu", strerror(errnos[region]),
                         op, (unsigned long long)offset);
  return -1;
}

static int er_config(const char *key, const char *value) {
  vstor_plugin_set_error(EINVAL, "errors plugin takes no keys (got %s=%s)", key, value);
  return -1;
}

static void *er_open(int readonly) {
  (void)readonly;
  return &token;
}

static int64_t er_get_size(void *h) {
  (void)h;
  return 1 << 20;
}

static int er_pread(void *h, void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)flags;
  if (fail_for(offset, "read") == -1) return -1;
  memset(buf, 0, count);
  return 0;
}

static int er_pwrite(void *h, const void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)buf, (void)count, (void)flags;
  return fail_for(offset, "write");
}

static struct vstor_plugin plugin = {
    .struct_size = sizeof(struct vstor_plugin),
    .api_version = VSTOR_PLUGIN_API_VERSION,
    .name = "errors",
    .thread_model = VSTOR_THREAD_MODEL_SERIALIZE_ALL,
    .config = er_config,
    .open = er_open,
    .get_size = er_get_size,
    .pread = er_pread,
    .pwrite = er_pwrite,
};

VSTOR_PLUGIN_REGISTER(plugin)
