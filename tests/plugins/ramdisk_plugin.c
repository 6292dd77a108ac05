/* A RAM disk as a vstor plugin, in C: the reference the plugin tests serve through real clients.
 * Keys: size=BYTES (K/M/G suffix; default 64M), bs=512|4096 is vstor's, serial=TEXT.
 * Thread model PARALLEL: reads share a rwlock, writes take it exclusively. Trimmed 64 KiB chunks
 * are tracked as holes (extents) and read back as zeroes. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/plugin.h"

#ifndef RAMDISK_API_VERSION /* the "future" test build sets 99: vstor must refuse it */
#define RAMDISK_API_VERSION VSTOR_PLUGIN_API_VERSION
#endif

#define CHUNK 65536u

static uint64_t cfg_size = 64u << 20;
static char cfg_serial[65];

struct disk {
  pthread_rwlock_t lock;
  unsigned char *data;
  unsigned char *mapped; /* one byte per chunk */
  uint64_t size;
  char serial[65];
};

static int parse_size(const char *v, uint64_t *out) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (end == v) return -1;
  if (*end == 'K') n <<= 10, ++end;
  else if (*end == 'M') n <<= 20, ++end;
  else if (*end == 'G') n <<= 30, ++end;
  if (*end || n == 0) return -1;
  *out = n;
  return 0;
}

static int rd_config(const char *key, const char *value) {
  if (strcmp(key, "size") == 0) {
    if (parse_size(value, &cfg_size) == 0) return 0;
    vstor_plugin_set_error(EINVAL, "ramdisk: size must be bytes with an optional K/M/G suffix, not '%s'", value);
    return -1;
  }
  if (strcmp(key, "serial") == 0) {
    strncpy(cfg_serial, value, sizeof cfg_serial - 1);
    return 0;
  }
  vstor_plugin_set_error(EINVAL, "ramdisk: unknown key '%s' (size, serial)", key);
  return -1;
}

static void *rd_open(int readonly) {
  (void)readonly;
  struct disk *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->size = cfg_size;
  d->data = calloc(1, d->size);
  d->mapped = calloc(1, (d->size + CHUNK - 1) / CHUNK);
  if (!d->data || !d->mapped) {
    free(d->data);
    free(d->mapped);
    free(d);
    vstor_plugin_set_error(ENOMEM, "ramdisk: cannot allocate %llu bytes", (unsigned long long)cfg_size);
    return NULL;
  }
  memcpy(d->serial, cfg_serial, sizeof d->serial);
  pthread_rwlock_init(&d->lock, NULL);
  cfg_size = 64u << 20; /* the next LUN starts from the defaults */
  cfg_serial[0] = 0;
  return d;
}

static void rd_close(void *h) {
  struct disk *d = h;
  pthread_rwlock_destroy(&d->lock);
  free(d->data);
  free(d->mapped);
  free(d);
}

static int64_t rd_get_size(void *h) { return (int64_t)((struct disk *)h)->size; }

static int rd_pread(void *h, void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  struct disk *d = h;
  (void)flags;
  pthread_rwlock_rdlock(&d->lock);
  memcpy(buf, d->data + offset, count);
  pthread_rwlock_unlock(&d->lock);
  return 0;
}

static int rd_pwrite(void *h, const void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  struct disk *d = h;
  (void)flags;
  pthread_rwlock_wrlock(&d->lock);
  memcpy(d->data + offset, buf, count);
  for (uint64_t c = offset / CHUNK; c <= (offset + count - 1) / CHUNK; ++c) d->mapped[c] = 1;
  pthread_rwlock_unlock(&d->lock);
  return 0;
}

static int rd_flush(void *h, uint32_t flags) {
  (void)h, (void)flags;
  return 0;
}

/* Zeroes the range; whole chunks become holes again. */
static int rd_trim(void *h, uint64_t count, uint64_t offset, uint32_t flags) {
  struct disk *d = h;
  (void)flags;
  pthread_rwlock_wrlock(&d->lock);
  memset(d->data + offset, 0, count);
  for (uint64_t c = (offset + CHUNK - 1) / CHUNK; (c + 1) * CHUNK <= offset + count; ++c) d->mapped[c] = 0;
  pthread_rwlock_unlock(&d->lock);
  return 0;
}

static int rd_extents(void *h, uint64_t count, uint64_t offset, struct vstor_extents *e) {
  struct disk *d = h;
  pthread_rwlock_rdlock(&d->lock);
  uint64_t at = offset;
  while (at < offset + count) {
    const uint64_t c = at / CHUNK;
    const uint64_t end = (c + 1) * CHUNK < d->size ? (c + 1) * CHUNK : d->size;
    if (vstor_plugin_add_extent(e, at, end - at, d->mapped[c] ? 0 : VSTOR_EXTENT_HOLE | VSTOR_EXTENT_ZERO) == -1) {
      pthread_rwlock_unlock(&d->lock);
      return -1;
    }
    at = end;
  }
  pthread_rwlock_unlock(&d->lock);
  return 0;
}

static int rd_can_fua(void *h) {
  (void)h;
  return 1; /* memory: every write is as durable as it gets */
}

static int rd_identity(void *h, struct vstor_plugin_identity *id) {
  struct disk *d = h;
  strcpy(id->vendor, "VSTORTST");
  strcpy(id->product, "RAMDISK-PLUGIN");
  memcpy(id->serial, d->serial, sizeof id->serial);
  id->rotation_rate = 1;
  id->optimal_transfer_blocks = 128;
  return 0;
}

static struct vstor_plugin plugin = {
    .struct_size = sizeof(struct vstor_plugin),
    .api_version = RAMDISK_API_VERSION,
    .name = "ramdisk",
    .thread_model = VSTOR_THREAD_MODEL_PARALLEL,
    .config = rd_config,
    .open = rd_open,
    .close = rd_close,
    .get_size = rd_get_size,
    .pread = rd_pread,
    .pwrite = rd_pwrite,
    .flush = rd_flush,
    .trim = rd_trim,
    .extents = rd_extents,
    .can_fua = rd_can_fua,
    .identity = rd_identity,
};

VSTOR_PLUGIN_REGISTER(plugin)
