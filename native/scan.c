// One directory of the source as the manifest sees it, in one call: every name it holds with its
// lstat() fields (and a symlink's target), for src/state/scan.ts. Node's own way is readdir()
// and then lstatSync() per name, a full path resolved each time; this stats each name relative
// to the open directory (fstatat), which on a 2-core machine took a walk of 101,000 entries from
// 600–650 ms to 325–345 ms (docs/performance.md). Built by scripts/build-native.ts; when it
// is missing, scan.ts uses Node's calls, with the same results.
//
// scan(path: Buffer): Buffer | null. null when the directory cannot be listed (gone, not a
// directory, not readable). Otherwise one record per name (`.` and `..` left out, a name that
// vanished between readdir and lstat left out too, and so is one whose full path would reach
// PATH_MAX, which lstat() by path and rsync refuse), in the directory's own order, each:
//
//   offset  size  field
//        0    44  the entry's key, as src/state/entry.ts lays it out: type, whether the time is
//                 in whole seconds, mode & 07777, uid, gid, the time's nanoseconds, size (0 for
//                 a directory), mtime in nanoseconds since the epoch (in seconds before 1677
//                 or after 2262), and at 36, st_ino
//       44     2  name length in bytes
//       46     2  link target length in bytes (0 unless a symlink)
//       48     -  the name's bytes, then the link target's
//
// The key is what the fast start compares with the manifest, byte for byte, with no field read
// in JavaScript; scan.ts hands it over as a string.
//
// Numbers are in the machine's byte order; scan.ts reads them little-endian and does not load
// this on a big-endian machine.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "scan.h"

/** The record layout above; scan.ts knows it as SCAN_LAYOUT. */
#define LAYOUT 2

int reserve(Out *out, size_t more) {
  if (out->limit > 0 && out->used + more > out->limit) return -1;
  if (out->used + more <= out->capacity) return 1;
  size_t capacity = out->capacity == 0 ? 65536 : out->capacity;
  while (out->used + more > capacity) capacity *= 2;
  unsigned char *data = realloc(out->data, capacity);
  if (data == NULL) return 0;
  out->data = data;
  out->capacity = capacity;
  return 1;
}

static void put16(unsigned char *at, uint16_t value) { memcpy(at, &value, sizeof value); }
static void put32(unsigned char *at, uint32_t value) { memcpy(at, &value, sizeof value); }
static void put64(unsigned char *at, uint64_t value) { memcpy(at, &value, sizeof value); }

static char typeOf(mode_t mode) {
  if (S_ISREG(mode)) return 'f';
  if (S_ISDIR(mode)) return 'd';
  if (S_ISLNK(mode)) return 'l';
  return 'o';
}

void keyOf(const struct stat *st, unsigned char *at) {
  char type = typeOf(st->st_mode);
  memset(at, 0, KEY);
  at[0] = (unsigned char)type;
  put32(at + 4, (uint32_t)(st->st_mode & 07777));
  put32(at + 8, (uint32_t)st->st_uid);
  put32(at + 12, (uint32_t)st->st_gid);
  put32(at + 16, (uint32_t)st->st_mtim.tv_nsec);
  put64(at + 20, type == 'd' ? 0 : (uint64_t)st->st_size);
  // In nanoseconds where the sum fits 64 bits (as entry.ts decides from Node's exact BigInt),
  // else in seconds: before 1677 or after 2262.
  __int128 total = (__int128)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  if (total < INT64_MIN || total > INT64_MAX) {
    at[1] = 1;
    put64(at + 28, (uint64_t)(int64_t)st->st_mtim.tv_sec);
  } else {
    put64(at + 28, (uint64_t)(int64_t)total);
  }
  put64(at + 36, (uint64_t)st->st_ino);
}

/** Appends one name's record: 1; memory ran out: 0; past the limit: -1. A name that vanished is skipped (1). */
static int add(Out *out, int dirFd, size_t dirLength, const char *name) {
  size_t nameLength = strlen(name);
  if (dirLength + 1 + nameLength >= PATH_MAX) return 1; // a path no one else can reach
  struct stat st;
  if (fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 1; // gone, or not ours to see
  char type = typeOf(st.st_mode);
  char link[PATH_MAX];
  ssize_t linkLength = 0;
  if (type == 'l') {
    linkLength = readlinkat(dirFd, name, link, sizeof link);
    if (linkLength < 0) linkLength = 0; // replaced since: the watcher reports it
  }
  if (nameLength > UINT16_MAX || (size_t)linkLength > UINT16_MAX) return 1; // no filesystem allows it
  int room = reserve(out, HEADER + nameLength + (size_t)linkLength);
  if (room <= 0) return room;
  unsigned char *at = out->data + out->used;
  keyOf(&st, at);
  put16(at + 44, (uint16_t)nameLength);
  put16(at + 46, (uint16_t)linkLength);
  memcpy(at + HEADER, name, nameLength);
  memcpy(at + HEADER + nameLength, link, (size_t)linkLength);
  out->used += HEADER + nameLength + (size_t)linkLength;
  return 1;
}

int list(const char *path, size_t length, Out *out) {
  int dirFd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) return -1;
  DIR *dir = fdopendir(dirFd);
  if (dir == NULL) {
    close(dirFd);
    return -1;
  }
  int result = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL) {
      if (errno != 0) result = -1; // a listing cut short is no listing
      break;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    int added = add(out, dirFd, length, name);
    if (added <= 0) {
      result = added == 0 ? -2 : -3;
      break;
    }
  }
  closedir(dir); // closes dirFd too
  return result;
}

static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool isBuffer = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &isBuffer) != napi_ok || !isBuffer) {
    napi_throw_type_error(env, NULL, "scan(path): path must be a Buffer");
    return NULL;
  }
  void *bytes;
  size_t length;
  if (napi_get_buffer_info(env, argv[0], &bytes, &length) != napi_ok) return NULL;
  if (memchr(bytes, '\0', length) != NULL) {
    napi_throw_type_error(env, NULL, "scan(path): path holds a NUL byte");
    return NULL;
  }
  char *path = malloc(length + 1);
  if (path == NULL) {
    napi_throw_error(env, "ENOMEM", "scan(path): out of memory");
    return NULL;
  }
  memcpy(path, bytes, length);
  path[length] = '\0';
  Out out = {NULL, 0, 0, 0};
  int listed = list(path, length, &out);
  free(path);
  napi_value result = NULL;
  if (listed == -2) {
    napi_throw_error(env, "ENOMEM", "scan(path): out of memory");
  } else if (listed == -1) {
    napi_get_null(env, &result);
  } else {
    void *copy;
    if (napi_create_buffer_copy(env, out.used, out.used == 0 ? "" : (const char *)out.data, &copy, &result) != napi_ok)
      result = NULL; // the exception is pending
  }
  free(out.data);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn, layout;
  if (napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "scan", fn) != napi_ok) return NULL;
  // The record's layout: scan.ts loads only the one it reads (a build/scan.node left from before
  // a pull is not used until `npm run build` makes it again).
  if (napi_create_uint32(env, LAYOUT, &layout) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "layout", layout) != napi_ok) return NULL;
  if (!registerCompare(env, exports)) return NULL;
  return exports;
}
