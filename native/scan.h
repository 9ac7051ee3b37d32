// What native/scan.c shares with native/compare.c: a growing byte buffer, one entry's key, and
// the listing of one directory as records (the layout at the top of scan.c).
#ifndef FILESYNC_SCAN_H
#define FILESYNC_SCAN_H

#include <node_api.h>
#include <stddef.h>
#include <sys/stat.h>

/** The key's length (src/state/entry.ts: KEY_LENGTH) and a listing record's fixed part. */
#define KEY 44
#define HEADER 48

typedef struct {
  unsigned char *data;
  size_t used;
  size_t capacity;
  /** The most bytes it may hold; 0: as many as memory allows. */
  size_t limit;
} Out;

/** Room for `more` bytes at the end of `out`: 1; memory ran out: 0; past its limit: -1. */
int reserve(Out *out, size_t more);

/** The entry's key (KEY bytes at `at`) from what lstat() gave. */
void keyOf(const struct stat *st, unsigned char *at);

/**
 * Lists the directory at `path` into `out`: 0; -1 when it cannot be listed, -2 when memory ran
 * out, -3 when the listing would pass `out`'s limit.
 */
int list(const char *path, size_t length, Out *out);

/** Adds compare() (native/compare.c) to the module's exports; 0 on failure. */
int registerCompare(napi_env env, napi_value exports);

#endif
