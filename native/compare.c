// The fast start's comparison in one call, off the event loop: the manifest (src/state/manifest.ts)
// read record by record against the source's directories, listed as scan.c lists them, by a few
// threads ahead of the reader. What is the same makes nothing; only the differences come back, for
// src/state/native-compare.ts to turn into the start's batch. The walk in JavaScript
// (src/state/compare.ts) does the same work with one object per entry in worker threads that
// take 50–100 ms each to start; it stays as the way when this is not built.
//
// compare(root: Buffer, fd: number, sections: Buffer, end: number, maxDiffs: number,
//         cancel: Buffer, maxListing: number): Promise<{ diffs: Buffer, entries: number, truncated: boolean }>
//
// `sections` holds each section's file offset and entry count as two doubles (little-endian);
// the records run from the first offset to `end`. `cancel[0]` set to 1 ends the work soon.
// Each difference, in the manifest's order (those the source holds that the manifest lacks come
// when their directory is left):
//
//   offset  size  field
//        0     1  'c' created (the filter is not asked: the caller does), 'm' changed, 'x' gone
//        1     1  0
//        2     2  the path's length in bytes
//        4    44  the source's key (zero when gone)
//       48    44  the manifest's key (zero when created)
//       92     -  the path's bytes, relative to the root
//
// Order needs no agreement with JavaScript's: the manifest's own order is followed, and names
// are looked up in a listing sorted by bytes. Memory: the listings of at most LOOKAHEAD
// directories ahead and of those on the current path, none larger than `maxListing` bytes.
// Rejects with `code`: EMANIFEST (the file is not whole; `message` says where), ESOURCE (the root
// cannot be listed, or the manifest does not start with it), ETOOLARGE (a directory's listing
// would pass `maxListing`), ENOMEM, ECANCELED.

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"

/** A manifest record's fixed part: shared, rest and link lengths, then the key. */
#define RECORD (6 + KEY)
#define CHUNK (1 << 20)
#define MAX_RECORD (RECORD + 2 * 0xffff)
/** Directories listed ahead of the reader, at most: what is held in memory besides the frames. */
#define LOOKAHEAD 256
#define MAX_LISTERS 4
#define DIFF_HEADER (4 + 2 * KEY)

static uint16_t get16(const unsigned char *at) {
  uint16_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

typedef struct {
  uint64_t offset;
  uint64_t count;
} Section;

// --- The manifest, one record at a time ---------------------------------------------------

typedef struct {
  int fd;
  const Section *sections;
  size_t sectionCount;
  uint64_t end;
  unsigned char *buffer;
  size_t length;
  size_t at;
  /** The file offset of buffer[length], and of the next record. */
  uint64_t position;
  uint64_t offset;
  size_t section;
  uint64_t inSection;
  uint64_t records;
  unsigned char path[0xffff];
  size_t pathLength;
  /** The record last read: its type, key and link (valid until the next read). */
  const unsigned char *key;
  const unsigned char *link;
  size_t linkLength;
  char error[160];
} Reader;

static int readerOpen(Reader *r, int fd, const Section *sections, size_t sectionCount, uint64_t end) {
  memset(r, 0, offsetof(Reader, path));
  r->fd = fd;
  r->sections = sections;
  r->sectionCount = sectionCount;
  r->end = end;
  r->position = sectionCount > 0 ? sections[0].offset : end;
  r->offset = r->position;
  r->pathLength = 0;
  r->error[0] = '\0';
  r->buffer = malloc(CHUNK + MAX_RECORD);
  return r->buffer != NULL;
}

static void readerClose(Reader *r) {
  free(r->buffer);
  r->buffer = NULL;
}

/** At least `need` bytes buffered: 1; the records end first: 0; a read failed: -1. */
static int fill(Reader *r, size_t need) {
  if (r->length - r->at >= need) return 1;
  memmove(r->buffer, r->buffer + r->at, r->length - r->at);
  r->length -= r->at;
  r->at = 0;
  while (r->length < need) {
    uint64_t left = r->end - r->position;
    if (left == 0) return 0;
    size_t room = CHUNK + MAX_RECORD - r->length;
    size_t want = left < room ? (size_t)left : room;
    ssize_t got = pread(r->fd, r->buffer + r->length, want, (off_t)r->position);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) return 0;
    r->length += (size_t)got;
    r->position += (uint64_t)got;
  }
  return 1;
}

static int malformed(Reader *r, const char *what) {
  snprintf(r->error, sizeof r->error, "record %llu of section %zu %s", (unsigned long long)r->inSection + 1,
           r->section + 1, what);
  return -1;
}

/** The next record: 1; the end of the records: 0; a file not whole: -1 (r->error says why). */
static int readerNext(Reader *r) {
  if (r->section < r->sectionCount && r->inSection == r->sections[r->section].count) {
    r->section++;
    r->inSection = 0;
    r->pathLength = 0; // each section starts afresh
    if (r->section < r->sectionCount && r->offset != r->sections[r->section].offset)
      return malformed(r, "does not start where the index says");
  }
  if (r->section >= r->sectionCount) {
    if (r->offset != r->end) return malformed(r, "is past the last section");
    return 0;
  }
  int got = fill(r, RECORD);
  if (got > 0) {
    const unsigned char *p = r->buffer + r->at;
    got = fill(r, RECORD + (size_t)get16(p + 2) + get16(p + 4));
  }
  if (got < 0) {
    snprintf(r->error, sizeof r->error, "it could not be read (%s)", strerror(errno));
    return -1;
  }
  if (got == 0) return malformed(r, "is cut short");
  const unsigned char *p = r->buffer + r->at;
  size_t shared = get16(p), rest = get16(p + 2), link = get16(p + 4);
  size_t size = RECORD + rest + link;
  const unsigned char *key = p + 6;
  char type = (char)key[0];
  if (type != 'f' && type != 'd' && type != 'l' && type != 'o') return malformed(r, "is malformed");
  if (key[1] > 1 || shared > r->pathLength || (type != 'l' && link > 0)) return malformed(r, "is malformed");
  if (shared + rest > 0xffff) return malformed(r, "is longer than a path can be");
  uint64_t limit = r->section + 1 < r->sectionCount ? r->sections[r->section + 1].offset : r->end;
  if (r->offset + size > limit) return malformed(r, "runs past its section");
  memcpy(r->path + shared, key + KEY, rest);
  r->pathLength = shared + rest;
  if (r->records > 0 && r->pathLength == 0) return malformed(r, "names the root again");
  r->key = key;
  r->link = key + KEY + rest;
  r->linkLength = link;
  r->at += size;
  r->offset += size;
  r->inSection++;
  r->records++;
  return 1;
}

// --- Directories listed ahead of the reader ----------------------------------------------

typedef struct {
  Out records;
  /** Record offsets, sorted by name. */
  uint32_t *order;
  size_t count;
  unsigned char *seen;
} Listing;

/** The slot of a directory listed, but not to be used: gone, not a directory, not readable. */
static Listing UNLISTED;
/** The slot of a directory whose listing ran out of memory. */
static Listing NO_MEMORY;
/** The slot of a directory whose listing would pass the most bytes a listing may take. */
static Listing TOO_LARGE;
/** The slot of a directory the bridge could not watch. */
static Listing UNBRIDGED;

// --- The bridge: watches held while the daemon's own watcher starts ------------------------
//
// A comparison that begins before the watcher runs would miss a change made to a directory after
// it was listed and before the watcher watched it. So each directory gets an inotify watch of the
// bridge's before it is listed, and the bridge keeps what happens there until drainBridge(),
// called once the watcher runs, hands it over (as changes, like the watcher's) and lets go of
// its watches. Past `maxWatches`, or when a watch cannot be added, the comparison fails
// (EBRIDGE) and is done again once the watcher runs, as without a bridge.

/** What a change to a directory or a name in it raises. */
#define BRIDGE_MASK                                                                                          \
  (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE |           \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

typedef struct {
  pthread_mutex_t lock;
  int fd;
  /** Drained (or failed): no watch is added any more. */
  int closed;
  /** Each watch's directory (relative), by its descriptor. */
  char **dirs;
  size_t *lengths;
  size_t capacity;
  size_t watches;
  size_t maxWatches;
} Bridge;

enum { WATCHED, GONE, BRIDGE_FAILED, NOT_BRIDGED };

static Bridge *bridgeOf(napi_env env, napi_value value);

static void bridgeRelease(Bridge *b) {
  if (b->fd >= 0) close(b->fd); // every watch goes with it
  b->fd = -1;
  b->closed = 1;
  for (size_t i = 0; i < b->capacity; i++) free(b->dirs[i]);
  free(b->dirs);
  free(b->lengths);
  b->dirs = NULL;
  b->lengths = NULL;
  b->capacity = 0;
}

/** Watches the directory at `path` (`dir` relative) before it is listed. */
static int bridgeWatch(Bridge *b, const char *path, const char *dir, size_t length) {
  pthread_mutex_lock(&b->lock);
  int result = WATCHED;
  if (b->closed) {
    result = NOT_BRIDGED; // the watcher runs: it sees what happens here from now on
  } else if (b->watches >= b->maxWatches) {
    result = BRIDGE_FAILED;
  } else {
    int wd = inotify_add_watch(b->fd, path, BRIDGE_MASK);
    if (wd < 0) {
      // Gone, replaced, or not ours to read (list() fails alike; the parent's watch sees a chmod).
      result = errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EACCES ? GONE : BRIDGE_FAILED;
    } else {
      if ((size_t)wd >= b->capacity) {
        size_t capacity = b->capacity == 0 ? 1024 : b->capacity;
        while ((size_t)wd >= capacity) capacity *= 2;
        char **dirs = realloc(b->dirs, capacity * sizeof *dirs);
        if (dirs != NULL) b->dirs = dirs;
        size_t *lengths = realloc(b->lengths, capacity * sizeof *lengths);
        if (lengths != NULL) b->lengths = lengths;
        if (dirs == NULL || lengths == NULL) {
          result = BRIDGE_FAILED;
        } else {
          for (size_t i = b->capacity; i < capacity; i++) b->dirs[i] = NULL;
          b->capacity = capacity;
        }
      }
      char *copy = result == WATCHED ? malloc(length + 1) : NULL;
      if (copy == NULL) {
        result = BRIDGE_FAILED;
      } else {
        memcpy(copy, dir, length);
        copy[length] = '\0';
        free(b->dirs[wd]); // the same directory again (a watch is per inode)
        b->dirs[wd] = copy;
        b->lengths[wd] = length;
        b->watches++;
      }
    }
  }
  if (result == BRIDGE_FAILED) bridgeRelease(b); // its watches are the watcher's budget too
  pthread_mutex_unlock(&b->lock);
  return result;
}

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t listed;
  pthread_cond_t room;
  /** The manifest's directories in its order (the root first), as paths; their listings. */
  char **dirs;
  size_t *dirLengths;
  Listing **slots;
  size_t dirCount;
  size_t capacity;
  /** Every directory is known (the first read is done). */
  int known;
  size_t next;
  size_t consumed;
  int stop;
  const char *root;
  size_t rootLength;
  size_t maxListing;
  Bridge *bridge;
} Work;

static const unsigned char *nameAt(const Listing *l, uint32_t at, size_t *length) {
  *length = get16(l->records.data + at + KEY);
  return l->records.data + at + HEADER;
}

static int byName(const void *a, const void *b, void *arg) {
  const Listing *l = arg;
  size_t x, y;
  const unsigned char *p = nameAt(l, *(const uint32_t *)a, &x);
  const unsigned char *q = nameAt(l, *(const uint32_t *)b, &y);
  int order = memcmp(p, q, x < y ? x : y);
  return order != 0 ? order : (x > y) - (x < y);
}

static void freeListing(Listing *l) {
  if (l == NULL || l == &UNLISTED || l == &NO_MEMORY || l == &TOO_LARGE || l == &UNBRIDGED) return;
  free(l->records.data);
  free(l->order);
  free(l->seen);
  free(l);
}

static Listing *listingOf(const Work *w, const char *dir, size_t length) {
  if (w->rootLength + 1 + length >= PATH_MAX) return &UNLISTED;
  char path[PATH_MAX];
  memcpy(path, w->root, w->rootLength);
  size_t total = w->rootLength;
  if (length > 0) {
    path[total++] = '/';
    memcpy(path + total, dir, length);
    total += length;
  }
  path[total] = '\0';
  if (w->bridge != NULL) {
    // The source directory through a symlink, as it is listed (`path/.` follows it); below it,
    // a name that became a symlink is not followed (the parent's listing says what it is).
    char top[PATH_MAX + 2];
    if (length == 0) snprintf(top, sizeof top, "%s/.", path);
    int watched = bridgeWatch(w->bridge, length == 0 ? top : path, dir, length);
    if (watched == GONE) return &UNLISTED;
    if (watched == BRIDGE_FAILED) return &UNBRIDGED;
  }
  Listing *l = calloc(1, sizeof *l);
  if (l == NULL) return &NO_MEMORY;
  l->records.limit = w->maxListing;
  int listed = list(path, total, &l->records);
  if (listed != 0) {
    freeListing(l);
    return listed == -1 ? &UNLISTED : listed == -3 ? &TOO_LARGE : &NO_MEMORY;
  }
  for (size_t at = 0; at < l->records.used; at += HEADER + get16(l->records.data + at + KEY) +
                                                   get16(l->records.data + at + KEY + 2))
    l->count++;
  l->order = malloc((l->count > 0 ? l->count : 1) * sizeof *l->order);
  l->seen = calloc(l->count > 0 ? l->count : 1, 1);
  if (l->order == NULL || l->seen == NULL) {
    freeListing(l);
    return &NO_MEMORY;
  }
  size_t i = 0;
  for (size_t at = 0; at < l->records.used; at += HEADER + get16(l->records.data + at + KEY) +
                                                   get16(l->records.data + at + KEY + 2))
    l->order[i++] = (uint32_t)at;
  qsort_r(l->order, l->count, sizeof *l->order, byName, l);
  return l;
}

static void *lister(void *arg) {
  Work *w = arg;
  for (;;) {
    pthread_mutex_lock(&w->lock);
    while (!w->stop && (w->next >= w->dirCount ? !w->known : w->next >= w->consumed + LOOKAHEAD))
      pthread_cond_wait(&w->room, &w->lock);
    if (w->stop || w->next >= w->dirCount) {
      pthread_mutex_unlock(&w->lock);
      return NULL;
    }
    size_t i = w->next++;
    const char *dir = w->dirs[i];
    size_t length = w->dirLengths[i];
    pthread_mutex_unlock(&w->lock);
    Listing *l = listingOf(w, dir, length);
    pthread_mutex_lock(&w->lock);
    w->slots[i] = l;
    pthread_cond_broadcast(&w->listed);
    pthread_mutex_unlock(&w->lock);
  }
}

/** Adds a directory for the listers; 0 when memory ran out. */
static int addDir(Work *w, const unsigned char *path, size_t length) {
  char *copy = malloc(length + 1);
  if (copy == NULL) return 0;
  memcpy(copy, path, length);
  copy[length] = '\0';
  pthread_mutex_lock(&w->lock);
  if (w->dirCount == w->capacity) {
    size_t capacity = w->capacity == 0 ? 1024 : 2 * w->capacity;
    char **dirs = realloc(w->dirs, capacity * sizeof *dirs);
    if (dirs != NULL) w->dirs = dirs;
    size_t *lengths = realloc(w->dirLengths, capacity * sizeof *lengths);
    if (lengths != NULL) w->dirLengths = lengths;
    Listing **slots = realloc(w->slots, capacity * sizeof *slots);
    if (slots != NULL) w->slots = slots;
    if (dirs == NULL || lengths == NULL || slots == NULL) {
      pthread_mutex_unlock(&w->lock);
      free(copy);
      return 0;
    }
    w->capacity = capacity;
  }
  w->dirs[w->dirCount] = copy;
  w->dirLengths[w->dirCount] = length;
  w->slots[w->dirCount] = NULL;
  w->dirCount++;
  pthread_cond_broadcast(&w->room);
  pthread_mutex_unlock(&w->lock);
  return 1;
}

/** The listing of directory `i`, waited for; the listers may go on past it. */
static Listing *take(Work *w, size_t i) {
  pthread_mutex_lock(&w->lock);
  while (w->slots[i] == NULL) pthread_cond_wait(&w->listed, &w->lock);
  Listing *l = w->slots[i];
  w->slots[i] = NULL;
  if (w->consumed < i + 1) w->consumed = i + 1;
  pthread_cond_broadcast(&w->room);
  pthread_mutex_unlock(&w->lock);
  return l;
}

// --- The comparison ----------------------------------------------------------------------

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref cancelRef;
  volatile unsigned char *cancel;
  /** The bridge's watches, taken before each listing; NULL without one. */
  napi_ref bridgeRef;
  Bridge *bridge;
  char *root;
  size_t rootLength;
  int fd;
  Section *sections;
  size_t sectionCount;
  uint64_t end;
  uint64_t maxDiffs;
  size_t maxListing;
  Out diffs;
  uint64_t count;
  uint64_t entries;
  int truncated;
  const char *code;
  char message[200];
} Task;

typedef struct {
  unsigned char *path;
  size_t length;
  Listing *listing;
} Frame;

static int fail(Task *t, const char *code, const char *message) {
  t->code = code;
  snprintf(t->message, sizeof t->message, "%s", message);
  return 0;
}

/** A listing that could not be kept: out of memory, larger than a listing may be, or not watched. */
static int unusable(Task *t, const Listing *l, const unsigned char *path, size_t length) {
  if (l == &UNBRIDGED) return fail(t, "EBRIDGE", "a directory could not be watched before it was listed");
  if (l != &TOO_LARGE) return fail(t, "ENOMEM", "out of memory");
  t->code = "ETOOLARGE";
  if (length == 0)
    snprintf(t->message, sizeof t->message, "the source directory holds more than %zu bytes of names and attributes",
             t->maxListing);
  else
    snprintf(t->message, sizeof t->message, "the directory '%.*s' holds more than %zu bytes of names and attributes",
             (int)(length > 80 ? 80 : length), (const char *)path, t->maxListing);
  return 0;
}

/** Appends one difference; 0 when memory ran out. */
static int emit(Task *t, char kind, const unsigned char *now, const unsigned char *then, const unsigned char *dir,
                size_t dirLength, const unsigned char *name, size_t nameLength) {
  size_t length = dirLength + (dirLength > 0 ? 1 : 0) + nameLength;
  if (reserve(&t->diffs, DIFF_HEADER + length) != 1) return 0;
  unsigned char *at = t->diffs.data + t->diffs.used;
  at[0] = (unsigned char)kind;
  at[1] = 0;
  uint16_t length16 = (uint16_t)length;
  memcpy(at + 2, &length16, 2);
  if (now != NULL) memcpy(at + 4, now, KEY);
  else memset(at + 4, 0, KEY);
  if (then != NULL) memcpy(at + 4 + KEY, then, KEY);
  else memset(at + 4 + KEY, 0, KEY);
  unsigned char *path = at + DIFF_HEADER;
  if (dirLength > 0) {
    memcpy(path, dir, dirLength);
    path[dirLength] = '/';
  }
  memcpy(path + length - nameLength, name, nameLength);
  t->diffs.used += DIFF_HEADER + length;
  t->count++;
  if (t->count > t->maxDiffs) t->truncated = 1;
  return 1;
}

/** Leaves a directory: what the source holds there and the manifest did not is created. */
static int leave(Task *t, Frame *frame) {
  Listing *l = frame->listing;
  int ok = 1;
  for (size_t i = 0; ok && !t->truncated && l != &UNLISTED && i < l->count; i++) {
    if (l->seen[i]) continue;
    size_t nameLength;
    const unsigned char *name = nameAt(l, l->order[i], &nameLength);
    ok = emit(t, 'c', l->records.data + l->order[i], NULL, frame->path, frame->length, name, nameLength);
  }
  freeListing(l);
  free(frame->path);
  frame->path = NULL;
  return ok || fail(t, "ENOMEM", "out of memory");
}

/** The index (in order) of `name` in the listing, or -1. */
static ptrdiff_t find(const Listing *l, const unsigned char *name, size_t length) {
  if (l == &UNLISTED) return -1;
  size_t low = 0, high = l->count;
  while (low < high) {
    size_t middle = (low + high) / 2;
    size_t y;
    const unsigned char *q = nameAt(l, l->order[middle], &y);
    int order = memcmp(name, q, length < y ? length : y);
    if (order == 0) order = (length > y) - (length < y);
    if (order == 0) return (ptrdiff_t)middle;
    if (order < 0) high = middle;
    else low = middle + 1;
  }
  return -1;
}

static int isBelow(const Frame *frame, const unsigned char *path, size_t length) {
  if (frame->length == 0) return 1; // the root holds every path
  return length > frame->length && path[frame->length] == '/' && memcmp(path, frame->path, frame->length) == 0;
}

/** The task's manifest, opened for reading from its first record; NULL (t->code set) when memory ran out. */
static Reader *openReader(Task *t) {
  Reader *r = malloc(sizeof *r);
  if (r == NULL || !readerOpen(r, t->fd, t->sections, t->sectionCount, t->end)) {
    free(r);
    fail(t, "ENOMEM", "out of memory");
    return NULL;
  }
  return r;
}

/** The next record: 1; the end: 0; cancelled or a file not whole: -1 (t->code set). */
static int nextRecord(Task *t, Reader *r) {
  if ((r->records & 1023) == 0 && *t->cancel) {
    fail(t, "ECANCELED", "the comparison was cancelled");
    return -1;
  }
  int got = readerNext(r);
  if (got < 0) fail(t, "EMANIFEST", r->error);
  return got;
}

/** The manifest merged with the listings: 1 done (or truncated), 0 failed (t->code says why). */
static int merge(Task *t, Work *w) {
  Reader *r = openReader(t);
  if (r == NULL) return 0;
  Frame *frames = NULL;
  size_t depth = 0, capacity = 0;
  size_t dir = 0; // the manifest's directories met so far
  int ok = 1;
  for (;;) {
    int got = nextRecord(t, r);
    if (got < 0) ok = 0;
    if (got <= 0) break;
    const unsigned char *path = r->path;
    size_t length = r->pathLength;
    const unsigned char *then = r->key;
    char was = (char)then[0];
    if (r->records == 1) {
      // The source directory itself, through a symlink as rsync takes `source/`.
      char top[PATH_MAX];
      struct stat st;
      if (length != 0 || was != 'd') {
        ok = fail(t, "ESOURCE", "the manifest does not start with the source directory");
        break;
      }
      snprintf(top, sizeof top, "%s/.", t->root);
      if (t->rootLength + 2 >= PATH_MAX || lstat(top, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ok = fail(t, "ESOURCE", "the source directory cannot be seen");
        break;
      }
      unsigned char now[KEY];
      keyOf(&st, now);
      Listing *l = take(w, dir++);
      if (l == &UNLISTED || l == &NO_MEMORY || l == &TOO_LARGE || l == &UNBRIDGED) {
        ok = l == &UNLISTED ? fail(t, "ESOURCE", "the source directory cannot be listed") : unusable(t, l, path, 0);
        break;
      }
      t->entries++;
      frames = malloc(16 * sizeof *frames);
      if (frames == NULL || (memcmp(now, then, KEY) != 0 && !emit(t, 'm', now, then, path, 0, path, 0))) {
        freeListing(l);
        ok = fail(t, "ENOMEM", "out of memory");
        break;
      }
      capacity = 16;
      frames[depth++] = (Frame){NULL, 0, l};
      continue;
    }
    Listing *taken = was == 'd' ? take(w, dir++) : NULL;
    if (taken == &NO_MEMORY || taken == &TOO_LARGE || taken == &UNBRIDGED) {
      ok = unusable(t, taken, path, length);
      break;
    }
    while (depth > 1 && !isBelow(&frames[depth - 1], path, length)) {
      if (!(ok = leave(t, &frames[--depth]))) break;
    }
    if (!ok) {
      freeListing(taken);
      break;
    }
    size_t slash = length;
    while (slash > 0 && path[slash - 1] != '/') slash--;
    size_t parent = slash > 0 ? slash - 1 : 0;
    Frame *top = &frames[depth - 1];
    if (top->length != parent) {
      freeListing(taken); // below something gone or replaced: sent with it
      continue;
    }
    ptrdiff_t found = find(top->listing, path + slash, length - slash);
    if (found < 0) {
      freeListing(taken);
      if (!emit(t, 'x', NULL, then, path, 0, path, length)) {
        ok = fail(t, "ENOMEM", "out of memory");
        break;
      }
    } else {
      Listing *l = top->listing;
      l->seen[found] = 1;
      t->entries++;
      const unsigned char *now = l->records.data + l->order[found];
      size_t nameLength = get16(now + KEY), linkLength = get16(now + KEY + 2);
      int same = memcmp(now, then, KEY) == 0 && linkLength == r->linkLength &&
                 memcmp(now + HEADER + nameLength, r->link, linkLength) == 0;
      if (!same && !emit(t, 'm', now, then, path, 0, path, length)) {
        freeListing(taken);
        ok = fail(t, "ENOMEM", "out of memory");
        break;
      }
      if (taken != NULL && now[0] == 'd') {
        if (depth == capacity) {
          Frame *more = realloc(frames, 2 * capacity * sizeof *frames);
          if (more == NULL) {
            freeListing(taken);
            ok = fail(t, "ENOMEM", "out of memory");
            break;
          }
          frames = more;
          capacity *= 2;
        }
        unsigned char *copy = malloc(length);
        if (copy == NULL) {
          freeListing(taken);
          ok = fail(t, "ENOMEM", "out of memory");
          break;
        }
        memcpy(copy, path, length);
        frames[depth++] = (Frame){copy, length, taken}; // an unreadable one holds nothing: all gone
      } else {
        freeListing(taken); // a directory no more: what it held goes with it
      }
    }
    if (t->truncated) break;
  }
  // Past truncation or a failure the rest is of no use; else every open directory is left.
  while (depth > 0) {
    Frame *frame = &frames[--depth];
    if (ok && !t->truncated) ok = leave(t, frame);
    else {
      freeListing(frame->listing);
      free(frame->path);
    }
  }
  free(frames);
  readerClose(r);
  free(r);
  return ok;
}

/** Reads the manifest once for its directories, handing each to the listers as it is met. */
static int findDirs(Task *t, Work *w) {
  Reader *r = openReader(t);
  if (r == NULL) return 0;
  int ok = 1;
  for (;;) {
    int got = nextRecord(t, r);
    if (got < 0) ok = 0;
    if (got <= 0) break;
    if (r->key[0] == 'd' && !addDir(w, r->path, r->pathLength)) {
      ok = fail(t, "ENOMEM", "out of memory");
      break;
    }
  }
  readerClose(r);
  free(r);
  return ok;
}

static void execute(napi_env env, void *data) {
  (void)env;
  Task *t = data;
  Work w;
  memset(&w, 0, sizeof w);
  pthread_mutex_init(&w.lock, NULL);
  pthread_cond_init(&w.listed, NULL);
  pthread_cond_init(&w.room, NULL);
  w.root = t->root;
  w.rootLength = t->rootLength;
  w.maxListing = t->maxListing;
  w.bridge = t->bridge;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t listers = cpus < 1 ? 1 : cpus > MAX_LISTERS ? MAX_LISTERS : (size_t)cpus;
  pthread_t threads[MAX_LISTERS];
  size_t started = 0;
  while (started < listers && pthread_create(&threads[started], NULL, lister, &w) == 0) started++;
  int ok = started > 0 ? findDirs(t, &w) : fail(t, "ENOMEM", "no thread could be started");
  pthread_mutex_lock(&w.lock);
  w.known = 1;
  if (!ok) w.stop = 1;
  pthread_cond_broadcast(&w.room);
  pthread_mutex_unlock(&w.lock);
  if (ok) ok = merge(t, &w);
  pthread_mutex_lock(&w.lock);
  w.stop = 1;
  pthread_cond_broadcast(&w.room);
  pthread_mutex_unlock(&w.lock);
  for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
  for (size_t i = 0; i < w.dirCount; i++) {
    freeListing(w.slots[i]);
    free(w.dirs[i]);
  }
  free(w.dirs);
  free(w.dirLengths);
  free(w.slots);
  pthread_mutex_destroy(&w.lock);
  pthread_cond_destroy(&w.listed);
  pthread_cond_destroy(&w.room);
  (void)ok;
}

static void complete(napi_env env, napi_status status, void *data) {
  Task *t = data;
  napi_value result = NULL;
  if (status != napi_ok && t->code == NULL) fail(t, "ECANCELED", "the comparison did not run");
  if (t->code == NULL) {
    napi_value diffs, entries, truncated;
    void *copy;
    if (napi_create_object(env, &result) != napi_ok ||
        napi_create_buffer_copy(env, t->diffs.used, t->diffs.used == 0 ? "" : (const char *)t->diffs.data, &copy,
                                &diffs) != napi_ok ||
        napi_create_double(env, (double)t->entries, &entries) != napi_ok ||
        napi_get_boolean(env, t->truncated, &truncated) != napi_ok ||
        napi_set_named_property(env, result, "diffs", diffs) != napi_ok ||
        napi_set_named_property(env, result, "entries", entries) != napi_ok ||
        napi_set_named_property(env, result, "truncated", truncated) != napi_ok) {
      fail(t, "ENOMEM", "the result could not be made");
    }
  }
  if (t->code == NULL) {
    napi_resolve_deferred(env, t->deferred, result);
  } else {
    napi_value code, message, error;
    napi_create_string_utf8(env, t->code, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, t->message, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_reject_deferred(env, t->deferred, error);
  }
  napi_delete_reference(env, t->cancelRef);
  if (t->bridgeRef != NULL) napi_delete_reference(env, t->bridgeRef);
  napi_delete_async_work(env, t->work);
  free(t->diffs.data);
  free(t->sections);
  free(t->root);
  free(t);
}

static napi_value throwType(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value compare(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 8)
    return throwType(env, "compare(root, fd, sections, end, maxDiffs, cancel, maxListing, bridge): eight arguments");
  napi_valuetype bridgeType;
  Bridge *bridge = NULL;
  if (napi_typeof(env, argv[7], &bridgeType) != napi_ok) return NULL;
  if (bridgeType == napi_external) {
    bridge = bridgeOf(env, argv[7]);
    if (bridge == NULL) return NULL;
  } else if (bridgeType != napi_null && bridgeType != napi_undefined) {
    return throwType(env, "compare(): bridge must be one bridge() made, or null");
  }
  void *root, *sections, *cancel;
  size_t rootLength, sectionsLength, cancelLength;
  const int buffers[] = {0, 2, 5};
  for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) {
    bool isBuffer = false;
    if (napi_is_buffer(env, argv[buffers[i]], &isBuffer) != napi_ok || !isBuffer)
      return throwType(env, "compare(): root, sections and cancel must be Buffers");
  }
  int32_t fd;
  double end, maxDiffs, maxListing;
  if (napi_get_buffer_info(env, argv[0], &root, &rootLength) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &sections, &sectionsLength) != napi_ok ||
      napi_get_buffer_info(env, argv[5], &cancel, &cancelLength) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok || napi_get_value_double(env, argv[3], &end) != napi_ok ||
      napi_get_value_double(env, argv[4], &maxDiffs) != napi_ok ||
      napi_get_value_double(env, argv[6], &maxListing) != napi_ok)
    return throwType(env, "compare(): fd, end, maxDiffs and maxListing must be numbers");
  if (cancelLength < 1 || sectionsLength % 16 != 0 || memchr(root, '\0', rootLength) != NULL ||
      rootLength + 2 >= PATH_MAX || !(end >= 0) || !(maxDiffs >= 0) || !(maxListing >= 1))
    return throwType(env, "compare(): an argument is out of range");
  Task *t = calloc(1, sizeof *t);
  size_t count = sectionsLength / 16;
  if (t != NULL) {
    t->root = malloc(rootLength + 1);
    t->sections = malloc((count > 0 ? count : 1) * sizeof *t->sections);
  }
  if (t == NULL || t->root == NULL || t->sections == NULL) {
    if (t != NULL) {
      free(t->root);
      free(t->sections);
    }
    free(t);
    napi_throw_error(env, "ENOMEM", "compare(): out of memory");
    return NULL;
  }
  memcpy(t->root, root, rootLength);
  t->root[rootLength] = '\0';
  t->rootLength = rootLength;
  for (size_t i = 0; i < count; i++) {
    double pair[2];
    memcpy(pair, (const unsigned char *)sections + 16 * i, sizeof pair);
    t->sections[i] = (Section){(uint64_t)pair[0], (uint64_t)pair[1]};
  }
  t->sectionCount = count;
  t->fd = fd;
  t->end = (uint64_t)end;
  t->maxDiffs = (uint64_t)maxDiffs;
  t->maxListing = (size_t)maxListing;
  t->cancel = cancel;
  t->bridge = bridge;
  napi_value promise, name;
  if ((bridge != NULL && napi_create_reference(env, argv[7], 1, &t->bridgeRef) != napi_ok) ||
      napi_create_reference(env, argv[5], 1, &t->cancelRef) != napi_ok ||
      napi_create_promise(env, &t->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "filesync:compare", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, t, &t->work) != napi_ok ||
      napi_queue_async_work(env, t->work) != napi_ok) {
    napi_throw_error(env, "ENOMEM", "compare(): the work could not be queued");
    return NULL; // what was made leaks: this happens only when the process is out of memory
  }
  return promise;
}

/** What marks a bridge's external as one (a wrong object is a TypeError, not a crash). */
static const napi_type_tag BRIDGE_TAG = {0x66696c6573796e63ULL, 0x6272696467650001ULL};

/** The bridge `value` holds; NULL (a TypeError pending) when it holds none. */
static Bridge *bridgeOf(napi_env env, napi_value value) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, &BRIDGE_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "not a bridge that bridge() made");
    return NULL;
  }
  return data;
}

static void finalizeBridge(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Bridge *b = data;
  bridgeRelease(b);
  pthread_mutex_destroy(&b->lock);
  free(b);
}

/** bridge(maxWatches: number): a bridge for compare(); null when inotify cannot be had here. */
static napi_value bridge(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  double maxWatches;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_get_value_double(env, argv[0], &maxWatches) != napi_ok || !(maxWatches >= 1))
    return throwType(env, "bridge(maxWatches): a number of watches, at least 1");
  Bridge *b = calloc(1, sizeof *b);
  if (b == NULL) {
    napi_throw_error(env, "ENOMEM", "bridge(): out of memory");
    return NULL;
  }
  b->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (b->fd < 0) {
    free(b);
    napi_get_null(env, &result); // out of instances (fs.inotify.max_user_instances): no bridge
    return result;
  }
  b->maxWatches = (size_t)maxWatches;
  pthread_mutex_init(&b->lock, NULL);
  if (napi_create_external(env, b, finalizeBridge, NULL, &result) != napi_ok) {
    finalizeBridge(env, b, NULL);
    return NULL;
  }
  if (napi_type_tag_object(env, result, &BRIDGE_TAG) != napi_ok) return NULL;
  return result;
}

/**
 * drainBridge(bridge): { paths: Buffer, overflow: boolean }. What happened in the watched
 * directories since each was watched, as paths relative to the root (each a 2-byte length and
 * its bytes); `overflow` when the kernel's queue dropped events. Lets go of every watch; a
 * bridge drained, or failed, holds nothing more.
 */
static napi_value drainBridge(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Bridge *b;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) return throwType(env, "drainBridge(bridge): one bridge() made");
  b = bridgeOf(env, argv[0]);
  if (b == NULL) return NULL;
  Out out = {NULL, 0, 0, 0};
  int overflow = 0, ok = 1;
  pthread_mutex_lock(&b->lock);
  b->closed = 1; // no more watches: the watcher runs
  _Alignas(struct inotify_event) unsigned char events[65536];
  while (ok && b->fd >= 0) {
    ssize_t got = read(b->fd, events, sizeof events);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break; // EAGAIN: nothing more
    for (size_t at = 0; ok && at + sizeof(struct inotify_event) <= (size_t)got;) {
      const struct inotify_event *event = (const struct inotify_event *)(events + at);
      at += sizeof(struct inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) overflow = 1;
      if (event->wd < 0 || (size_t)event->wd >= b->capacity || b->dirs[event->wd] == NULL) continue;
      if (event->mask & IN_IGNORED) continue;
      const char *dir = b->dirs[event->wd];
      size_t dirLength = b->lengths[event->wd];
      size_t nameLength = event->len > 0 ? strlen(event->name) : 0;
      size_t length = dirLength + (dirLength > 0 && nameLength > 0 ? 1 : 0) + nameLength;
      if (length > 0xffff) continue;
      if (reserve(&out, 2 + length) != 1) {
        ok = 0;
        break;
      }
      unsigned char *p = out.data + out.used;
      uint16_t length16 = (uint16_t)length;
      memcpy(p, &length16, 2);
      memcpy(p + 2, dir, dirLength);
      if (dirLength > 0 && nameLength > 0) p[2 + dirLength] = '/';
      memcpy(p + 2 + length - nameLength, event->name, nameLength);
      out.used += 2 + length;
    }
  }
  bridgeRelease(b);
  pthread_mutex_unlock(&b->lock);
  napi_value result, paths, overflowed;
  void *copy;
  if (!ok) {
    free(out.data);
    napi_throw_error(env, "ENOMEM", "drainBridge(): out of memory");
    return NULL;
  }
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_buffer_copy(env, out.used, out.used == 0 ? "" : (const char *)out.data, &copy, &paths) !=
          napi_ok ||
      napi_get_boolean(env, overflow, &overflowed) != napi_ok ||
      napi_set_named_property(env, result, "paths", paths) != napi_ok ||
      napi_set_named_property(env, result, "overflow", overflowed) != napi_ok)
    result = NULL;
  free(out.data);
  return result;
}

int registerCompare(napi_env env, napi_value exports) {
  napi_value fn, open, drain;
  return napi_create_function(env, "compare", NAPI_AUTO_LENGTH, compare, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, "compare", fn) == napi_ok &&
         napi_create_function(env, "bridge", NAPI_AUTO_LENGTH, bridge, NULL, &open) == napi_ok &&
         napi_set_named_property(env, exports, "bridge", open) == napi_ok &&
         napi_create_function(env, "drainBridge", NAPI_AUTO_LENGTH, drainBridge, NULL, &drain) == napi_ok &&
         napi_set_named_property(env, exports, "drainBridge", drain) == napi_ok;
}
