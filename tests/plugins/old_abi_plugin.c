/* A plugin as built against an older, smaller plugin.h: its struct ends after pread (no pwrite,
 * no capabilities, no identity) and it does not include today's header. vstor must load it, read
 * no byte past its struct_size, and serve it as a read-only disk. Every byte of block N reads N
 * (mod 256); the size is 4 MiB of 4096-byte blocks. */
#include <stdint.h>
#include <string.h>

struct old_host; /* the host table, unused */

struct old_vstor_plugin {
  uint32_t struct_size;
  uint32_t api_version;
  const char *name;
  int thread_model;
  int (*load)(void);
  void (*unload)(void);
  int (*config)(const char *key, const char *value);
  int (*config_complete)(void);
  void *(*open)(int readonly);
  void (*close)(void *handle);
  int64_t (*get_size)(void *handle);
  uint32_t (*block_size)(void *handle);
  int (*pread)(void *handle, void *buf, uint64_t count, uint64_t offset, uint32_t flags);
};

static int token;

static void *old_open(int readonly) {
  (void)readonly;
  return &token;
}

static int64_t old_get_size(void *h) {
  (void)h;
  return 4 << 20;
}

static uint32_t old_block_size(void *h) {
  (void)h;
  return 4096;
}

static int old_pread(void *h, void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)flags;
  unsigned char *p = buf;
  for (uint64_t at = 0; at < count; at += 4096) memset(p + at, (int)((offset + at) / 4096 % 256), 4096);
  return 0;
}

static const struct old_vstor_plugin plugin = {
    .struct_size = sizeof(struct old_vstor_plugin),
    .api_version = 1,
    .name = "oldabi",
    .thread_model = 1, /* serialize requests */
    .open = old_open,
    .get_size = old_get_size,
    .block_size = old_block_size,
    .pread = old_pread,
};

__attribute__((visibility("default"))) const struct old_vstor_plugin *vstor_plugin_init(const struct old_host *host) {
  (void)host;
  return &plugin;
}
