/* vstor plugin C ABI: storage behind vstor as a shared object, loaded with
 *   vstor serve --lun plugin:/path/to/plugin.so[,key=value...]
 *
 * A plugin defines a `struct vstor_plugin` and registers it with VSTOR_PLUGIN_REGISTER(), which
 * defines the one symbol vstor looks up: vstor_plugin_init. docs/sdk.md ("Plugins") is the guide.
 *
 * ABI rules (the way nbdkit versions its plugin struct):
 * - The plugin struct starts with its own size and the API version the plugin was built against.
 *   Fields are only ever added at the end, so a plugin built against an older, smaller struct
 *   still loads: vstor reads the first `struct_size` bytes and treats the fields past them as NULL.
 * - VSTOR_PLUGIN_API_VERSION goes up only when a callback changes meaning; vstor refuses a plugin
 *   built for a newer version than it implements, by name, instead of guessing.
 * - The host table passed to vstor_plugin_init follows the same rules in the other direction.
 * - Every callback is optional (NULL) unless marked "required".
 *
 * Callbacks are plain blocking calls. vstor runs them on its own worker threads, never on a network
 * loop, and enforces the thread model the plugin declares. Errors: return -1 (NULL from open) and
 * either call vstor_plugin_set_error(errno, "fmt", ...) or set errno; the message reaches vstor's
 * log and the errno becomes SCSI sense (EIO: medium error, ENOSPC: space allocation failed, EROFS:
 * write protected, EINVAL: invalid field, ENOMEM/EAGAIN: insufficient resources, ...).
 */
#ifndef VSTOR_PLUGIN_H
#define VSTOR_PLUGIN_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VSTOR_PLUGIN_API_VERSION 1

/* Thread models, most restrictive first. vstor opens one handle per LUN. */
#define VSTOR_THREAD_MODEL_SERIALIZE_ALL 0      /* one callback at a time across every handle */
#define VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS 1 /* one callback at a time per handle (LUN) */
#define VSTOR_THREAD_MODEL_PARALLEL 2           /* any number at once, on any handle */

/* Flags for pwrite, trim and zero. */
#define VSTOR_FLAG_FUA 1u /* durable before the call returns */

/* Extent types for vstor_plugin_add_extent (nbdkit's base:allocation bits). */
#define VSTOR_EXTENT_HOLE 1u /* not allocated (unmapped) */
#define VSTOR_EXTENT_ZERO 2u /* reads as zeroes */

/* What INQUIRY and the VPD pages say. vstor zeroes it and sets struct_size before calling
 * identity; empty strings and zero numbers mean "vstor's default". Operator options win. */
struct vstor_plugin_identity {
  uint32_t struct_size;
  char vendor[9];                   /* T10 vendor, up to 8 ASCII characters */
  char product[17];                 /* up to 16 ASCII characters */
  char serial[65];                  /* VPD page 80h */
  uint16_t rotation_rate;           /* VPD B1h: 1 = solid state, 0401h..FFFEh = rpm */
  uint32_t optimal_transfer_blocks; /* VPD B0h, in logical blocks */
};

struct vstor_extents; /* opaque: filled with vstor_plugin_add_extent */

/* Functions vstor offers the plugin; passed to vstor_plugin_init (no symbol exports needed). */
struct vstor_plugin_host {
  uint32_t struct_size;
  uint32_t api_version;
  /* Records the error of the callback running on this thread (errnum 0: use errno). */
  void (*set_error)(int errnum, const char *message);
  /* Adds [offset, offset+length) of `type` to the answer of the extents callback; 0 or -1. */
  int (*add_extent)(struct vstor_extents *extents, uint64_t offset, uint64_t length, uint32_t type);
};

struct vstor_plugin {
  uint32_t struct_size; /* required: sizeof(struct vstor_plugin) as the plugin was built */
  uint32_t api_version; /* required: VSTOR_PLUGIN_API_VERSION as the plugin was built */
  const char *name;     /* required: short name; the default INQUIRY product is NAME-DISK */
  int thread_model;     /* VSTOR_THREAD_MODEL_* */

  /* Once per process, when the first LUN uses the plugin / after the last one is gone. */
  int (*load)(void);
  void (*unload)(void);
  /* Per LUN, in this order and never interleaved with another LUN's: config for each key=value
   * of the --lun spec that is not vstor's own, config_complete, then open. Keep what the handle
   * needs in the handle: the next LUN's config calls come later. An unknown key: return -1. */
  int (*config)(const char *key, const char *value);
  int (*config_complete)(void);
  void *(*open)(int readonly); /* required: a handle (any non-NULL pointer) or NULL on error */
  void (*close)(void *handle);

  int64_t (*get_size)(void *handle);     /* required: bytes, a multiple of the block size */
  uint32_t (*block_size)(void *handle);  /* 512 or 4096; NULL: the LUN's bs= (default 512) */

  /* Offsets and counts in bytes, aligned to the block size. 0 on success, -1 on error. */
  int (*pread)(void *handle, void *buf, uint64_t count, uint64_t offset, uint32_t flags); /* required */
  int (*pwrite)(void *handle, const void *buf, uint64_t count, uint64_t offset, uint32_t flags);
  int (*flush)(void *handle, uint32_t flags);
  int (*trim)(void *handle, uint64_t count, uint64_t offset, uint32_t flags);  /* reads zero after */
  int (*zero)(void *handle, uint64_t count, uint64_t offset, uint32_t flags);
  /* Allocation status of [offset, offset+count): add extents in order from `offset`; vstor treats
   * what is not covered as allocated. */
  int (*extents)(void *handle, uint64_t count, uint64_t offset, struct vstor_extents *extents);

  /* Capabilities: 1 yes, 0 no, -1 error. NULL: can_write if pwrite is set, can_flush if flush is,
   * can_trim if trim is, can_zero if zero is, can_extents if extents is; can_fua 0 (vstor then
   * flushes after a FUA write). */
  int (*can_write)(void *handle);
  int (*can_flush)(void *handle);
  int (*can_trim)(void *handle);
  int (*can_zero)(void *handle);
  int (*can_fua)(void *handle);
  int (*can_extents)(void *handle);

  int (*identity)(void *handle, struct vstor_plugin_identity *identity);
  /* New fields go here, at the end. */
};

/* The host table of this plugin, set by vstor_plugin_init (defined by VSTOR_PLUGIN_REGISTER). */
extern const struct vstor_plugin_host *vstor_plugin_host_table;

#if defined(_WIN32)
#define VSTOR_PLUGIN_EXPORT __declspec(dllexport)
#else
#define VSTOR_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* The one symbol vstor looks up. */
typedef const struct vstor_plugin *(*vstor_plugin_init_fn)(const struct vstor_plugin_host *host);

#define VSTOR_PLUGIN_REGISTER(plugin)                                                        \
  const struct vstor_plugin_host *vstor_plugin_host_table;                                   \
  VSTOR_PLUGIN_EXPORT const struct vstor_plugin *vstor_plugin_init(const struct vstor_plugin_host *host) { \
    vstor_plugin_host_table = host;                                                          \
    return &(plugin);                                                                        \
  }

/* Record an error for the callback that is about to return -1: errnum selects the SCSI sense,
 * the formatted message goes to vstor's log. Callable from any callback's thread. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void vstor_plugin_set_error(int errnum, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (vstor_plugin_host_table && vstor_plugin_host_table->set_error)
    vstor_plugin_host_table->set_error(errnum, message);
}

static inline int vstor_plugin_add_extent(struct vstor_extents *extents, uint64_t offset, uint64_t length,
                                          uint32_t type) {
  if (!vstor_plugin_host_table || !vstor_plugin_host_table->add_extent) return -1;
  return vstor_plugin_host_table->add_extent(extents, offset, length, type);
}

#ifdef __cplusplus
}
#endif

#endif /* VSTOR_PLUGIN_H */
