/* DBDisk: a disk whose 4 KiB blocks are rows of a SQLite database, as a vstor plugin.
 *   vstor serve --lun plugin:dbdisk.so,file=/srv/disk.db,size=1G
 * - blocks(lba INTEGER PRIMARY KEY, data BLOB): a missing row reads as zeroes; UNMAP and
 *   WRITE ZEROES delete rows (thin; extents report them as holes).
 * - Writes go into an open transaction; FLUSH (SYNCHRONIZE CACHE) and FUA writes commit it.
 *   WAL journal, synchronous=FULL: what a flush committed survives kill -9 and power loss.
 * - One server per database: a second open of the same file is refused (an exclusive flock on
 *   FILE.lock, released by the kernel when the process dies).
 * - The size is stored in the database on creation; size= on a later open must match or be absent.
 * Thread model SERIALIZE_ALL: one SQLite connection, one call at a time. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "vstor/plugin.h"

#define BLOCK 4096u

static char cfg_file[4096];
static uint64_t cfg_size;

struct db {
  sqlite3 *sql;
  sqlite3_stmt *get, *put, *del, *map;
  int lock_fd;
  int in_txn;
  uint64_t size;
};

static int fail(struct db *d, const char *what) {
  vstor_plugin_set_error(EIO, "dbdisk: %s: %s", what, d->sql ? sqlite3_errmsg(d->sql) : "no database");
  return -1;
}

static int exec(struct db *d, const char *sql) {
  return sqlite3_exec(d->sql, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(d, sql);
}

static int parse_size(const char *v, uint64_t *out) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (end == v) return -1;
  if (*end == 'K') n <<= 10, ++end;
  else if (*end == 'M') n <<= 20, ++end;
  else if (*end == 'G') n <<= 30, ++end;
  else if (*end == 'T') n <<= 40, ++end;
  if (*end || n == 0 || n % BLOCK) return -1;
  *out = n;
  return 0;
}

static int db_config(const char *key, const char *value) {
  if (strcmp(key, "file") == 0 && strlen(value) < sizeof cfg_file - 8) {
    strcpy(cfg_file, value);
    return 0;
  }
  if (strcmp(key, "size") == 0) {
    if (parse_size(value, &cfg_size) == 0) return 0;
    vstor_plugin_set_error(EINVAL, "dbdisk: size must be a multiple of 4K (K/M/G/T suffix), not '%s'", value);
    return -1;
  }
  vstor_plugin_set_error(EINVAL, "dbdisk: unknown key '%s' (file, size)", key);
  return -1;
}

static int db_config_complete(void) {
  if (cfg_file[0]) return 0;
  vstor_plugin_set_error(EINVAL, "dbdisk: file=PATH is required");
  return -1;
}

/* The size: the stored one, else size= (then stored). */
static int load_size(struct db *d) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(d->sql, "SELECT value FROM meta WHERE key = 'size'", -1, &st, NULL) != SQLITE_OK)
    return fail(d, "read size");
  const int rc = sqlite3_step(st);
  const uint64_t stored = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  if (stored && cfg_size && stored != cfg_size) {
    vstor_plugin_set_error(EINVAL, "dbdisk: %s holds a %llu-byte disk, not size=%llu", cfg_file,
                           (unsigned long long)stored, (unsigned long long)cfg_size);
    return -1;
  }
  if (!stored && !cfg_size) {
    vstor_plugin_set_error(EINVAL, "dbdisk: %s is new: give its size=", cfg_file);
    return -1;
  }
  d->size = stored ? stored : cfg_size;
  if (stored) return 0;
  char sql[128];
  snprintf(sql, sizeof sql, "INSERT INTO meta VALUES ('size', %llu)", (unsigned long long)d->size);
  return exec(d, sql);
}

static int prepare(struct db *d) {
  static const char *const sql[] = {
      "SELECT data FROM blocks WHERE lba = ?", "INSERT OR REPLACE INTO blocks VALUES (?, ?)",
      "DELETE FROM blocks WHERE lba >= ? AND lba < ?", "SELECT lba FROM blocks WHERE lba >= ? AND lba < ? ORDER BY lba"};
  sqlite3_stmt **out[] = {&d->get, &d->put, &d->del, &d->map};
  for (int i = 0; i < 4; ++i)
    if (sqlite3_prepare_v3(d->sql, sql[i], -1, SQLITE_PREPARE_PERSISTENT, out[i], NULL) != SQLITE_OK)
      return fail(d, sql[i]);
  return 0;
}

static void db_close(void *h);

static void *db_open(int readonly) {
  struct db *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  char lock[sizeof cfg_file + 8];
  snprintf(lock, sizeof lock, "%s.lock", cfg_file);
  d->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    vstor_plugin_set_error(EBUSY, "dbdisk: %s is in use by another server (%s)", cfg_file, strerror(errno));
    if (d->lock_fd >= 0) close(d->lock_fd);
    free(d);
    return NULL;
  }
  const int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(cfg_file, &d->sql, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      exec(d, "PRAGMA journal_mode=WAL") || exec(d, "PRAGMA synchronous=FULL") ||
      (!readonly && exec(d, "CREATE TABLE IF NOT EXISTS blocks (lba INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")) ||
      load_size(d) || prepare(d)) {
    if (!d->sql) vstor_plugin_set_error(EIO, "dbdisk: cannot open %s", cfg_file);
    db_close(d);
    return NULL;
  }
  cfg_file[0] = 0, cfg_size = 0; /* the next LUN configures its own */
  return d;
}

static int commit(struct db *d) {
  if (!d->in_txn) return 0;
  d->in_txn = 0;
  return exec(d, "COMMIT");
}

static void db_close(void *h) {
  struct db *d = h;
  if (d->sql) commit(d); /* a clean stop keeps what was written */
  sqlite3_finalize(d->get), sqlite3_finalize(d->put), sqlite3_finalize(d->del), sqlite3_finalize(d->map);
  sqlite3_close(d->sql);
  close(d->lock_fd);
  free(d);
}

static int64_t db_get_size(void *h) { return (int64_t)((struct db *)h)->size; }
static uint32_t db_block_size(void *h) { (void)h; return BLOCK; }

static int begin(struct db *d) {
  if (d->in_txn) return 0;
  if (exec(d, "BEGIN")) return -1;
  d->in_txn = 1;
  return 0;
}

static int db_pread(void *h, void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  struct db *d = h;
  (void)flags;
  for (uint64_t at = 0; at < count; at += BLOCK) {
    sqlite3_reset(d->get);
    sqlite3_bind_int64(d->get, 1, (sqlite3_int64)((offset + at) / BLOCK));
    const int rc = sqlite3_step(d->get);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(d->get, 0) == BLOCK)
      memcpy((char *)buf + at, sqlite3_column_blob(d->get, 0), BLOCK);
    else if (rc == SQLITE_DONE)
      memset((char *)buf + at, 0, BLOCK); /* never written or unmapped */
    else
      return fail(d, "read block");
  }
  return 0;
}

static int db_pwrite(void *h, const void *buf, uint64_t count, uint64_t offset, uint32_t flags) {
  struct db *d = h;
  if (begin(d)) return -1;
  for (uint64_t at = 0; at < count; at += BLOCK) {
    sqlite3_reset(d->put);
    sqlite3_bind_int64(d->put, 1, (sqlite3_int64)((offset + at) / BLOCK));
    sqlite3_bind_blob(d->put, 2, (const char *)buf + at, BLOCK, SQLITE_STATIC);
    if (sqlite3_step(d->put) != SQLITE_DONE) return fail(d, "write block");
  }
  return flags & VSTOR_FLAG_FUA ? commit(d) : 0;
}

static int db_flush(void *h, uint32_t flags) {
  (void)flags;
  return commit(h);
}

static int db_trim(void *h, uint64_t count, uint64_t offset, uint32_t flags) {
  struct db *d = h;
  if (begin(d)) return -1;
  sqlite3_reset(d->del);
  sqlite3_bind_int64(d->del, 1, (sqlite3_int64)(offset / BLOCK));
  sqlite3_bind_int64(d->del, 2, (sqlite3_int64)((offset + count) / BLOCK));
  if (sqlite3_step(d->del) != SQLITE_DONE) return fail(d, "delete blocks");
  return flags & VSTOR_FLAG_FUA ? commit(d) : 0;
}

/* Rows are data, gaps are holes that read as zeroes. */
static int db_extents(void *h, uint64_t count, uint64_t offset, struct vstor_extents *e) {
  struct db *d = h;
  const uint64_t first = offset / BLOCK, end = (offset + count) / BLOCK;
  uint64_t next = first;
  sqlite3_reset(d->map);
  sqlite3_bind_int64(d->map, 1, (sqlite3_int64)first);
  sqlite3_bind_int64(d->map, 2, (sqlite3_int64)end);
  int rc;
  while ((rc = sqlite3_step(d->map)) == SQLITE_ROW) {
    const uint64_t lba = (uint64_t)sqlite3_column_int64(d->map, 0);
    if (lba > next && vstor_plugin_add_extent(e, next * BLOCK, (lba - next) * BLOCK,
                                              VSTOR_EXTENT_HOLE | VSTOR_EXTENT_ZERO) == -1)
      return -1;
    if (vstor_plugin_add_extent(e, lba * BLOCK, BLOCK, 0) == -1) return -1;
    next = lba + 1;
  }
  if (rc != SQLITE_DONE) return fail(d, "map blocks");
  if (next < end) return vstor_plugin_add_extent(e, next * BLOCK, (end - next) * BLOCK, VSTOR_EXTENT_HOLE | VSTOR_EXTENT_ZERO);
  return 0;
}

static int db_identity(void *h, struct vstor_plugin_identity *id) {
  (void)h;
  strcpy(id->vendor, "DBDISK");
  strcpy(id->product, "SQLITE-BLOCKS");
  id->rotation_rate = 1;
  return 0;
}

static struct vstor_plugin plugin = {
    .struct_size = sizeof(struct vstor_plugin),
    .api_version = VSTOR_PLUGIN_API_VERSION,
    .name = "dbdisk",
    .thread_model = VSTOR_THREAD_MODEL_SERIALIZE_ALL,
    .config = db_config,
    .config_complete = db_config_complete,
    .open = db_open,
    .close = db_close,
    .get_size = db_get_size,
    .block_size = db_block_size,
    .pread = db_pread,
    .pwrite = db_pwrite,
    .flush = db_flush,
    .trim = db_trim,
    .zero = db_trim, /* a deleted row reads as zeroes */
    .extents = db_extents,
    .identity = db_identity,
};

VSTOR_PLUGIN_REGISTER(plugin)
