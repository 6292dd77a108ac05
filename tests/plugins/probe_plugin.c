/* A plugin that watches how vstor calls it, for the thread-model tests: every pread sleeps 20 ms
 * while counting the callbacks in flight, per handle and across the plugin, and notes whether it
 * ran on the thread that submitted the command (it must not: callbacks run on vstor's workers).
 * Built three times, one per thread model (PROBE_MODEL). The test reads the counters through
 * probe_stats, found with dlsym in the same loaded object. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vstor/plugin.h"

#define SIZE (1u << 20)

struct probe {
  atomic_int in_flight;
};

static atomic_int all_in_flight, all_max, handle_max;
static pthread_t forbidden_thread; /* the test's submitting thread */
static atomic_int forbidden_set, ran_on_forbidden, calls;

static void raise_max(atomic_int *max, int now) {
  int seen = atomic_load(max);
  while (now > seen && !atomic_compare_exchange_weak(max, &seen, now)) {
  }
}

static void *probe_open(int readonly) {
  (void)readonly;
  return calloc(1, sizeof(struct probe));
}
static void probe_close(void *h) { free(h); }
static int64_t probe_get_size(void *h) { (void)h; return SIZE; }

static int probe_pread(void *h, void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  struct probe *p = h;
  (void)offset, (void)flags;
  atomic_fetch_add(&calls, 1);
  if (atomic_load(&forbidden_set) && pthread_equal(pthread_self(), forbidden_thread)) atomic_store(&ran_on_forbidden, 1);
  raise_max(&handle_max, atomic_fetch_add(&p->in_flight, 1) + 1);
  raise_max(&all_max, atomic_fetch_add(&all_in_flight, 1) + 1);
  const struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  memset(buf, 0x5a, count);
  atomic_fetch_sub(&all_in_flight, 1);
  atomic_fetch_sub(&p->in_flight, 1);
  return 0;
}

static struct vstor_plugin plugin = {
    .struct_size = sizeof(struct vstor_plugin),
    .api_version = VSTOR_PLUGIN_API_VERSION,
    .name = "probe",
    .thread_model = PROBE_MODEL,
    .open = probe_open,
    .close = probe_close,
    .get_size = probe_get_size,
    .pread = probe_pread,
};

VSTOR_PLUGIN_REGISTER(plugin)

/* For the test: forget what was seen and name the thread no callback may run on. */
VSTOR_PLUGIN_EXPORT void probe_reset(pthread_t submitter) {
  forbidden_thread = submitter;
  atomic_store(&forbidden_set, 1);
  atomic_store(&all_max, 0), atomic_store(&handle_max, 0), atomic_store(&ran_on_forbidden, 0), atomic_store(&calls, 0);
}

/* Most callbacks seen at once across the plugin and on any one handle; calls; 1 if one ran on
 * the submitting thread. */
VSTOR_PLUGIN_EXPORT void probe_stats(int *all, int *one_handle, int *calls_out, int *on_submitter) {
  *all = atomic_load(&all_max);
  *one_handle = atomic_load(&handle_max);
  *calls_out = atomic_load(&calls);
  *on_submitter = atomic_load(&ran_on_forbidden);
}
