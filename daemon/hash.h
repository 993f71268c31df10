/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SHA-256 and SHA-1 of executed images, off the event path: a worker thread
 * hashes files vigild opened (and checked to be the image the kernel exec'd)
 * from a bounded queue, into an LRU cache keyed by (device, inode, size,
 * mtime). The cache also remembers files that get no hash (too large,
 * unreadable), so an exec storm of one image reads it once.
 */
#ifndef VG_HASH_H
#define VG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VG_HASH_MAX_SIZE_DEFAULT (64ull << 20)
#define VG_HASH_WAIT_MS_DEFAULT 100
#define VG_HASH_CACHE 4096 /* files remembered */
#define VG_HASH_QUEUE 64 /* files waiting for the worker */

struct vg_hash_key {
	uint64_t dev; /* st_dev */
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
};

enum vg_hash_state {
	VG_HS_ABSENT, /* not in the cache */
	VG_HS_PENDING, /* queued or being read */
	VG_HS_DONE, /* digests known */
	VG_HS_TOO_LARGE,
	VG_HS_UNREADABLE,
};

struct vg_hash_val {
	uint8_t sha256[32];
	uint8_t sha1[20];
};

/* How each image vigild looked at ended (cumulative). */
struct vg_hash_stats {
	uint64_t hashed, cached, too_large, unreadable, gone, queue_full, late;
};

/* The cache alone (no thread): a fixed number of entries, least recently used evicted. */
struct vg_hcache_ent {
	struct vg_hash_key key;
	struct vg_hash_val val;
	uint8_t state; /* enum vg_hash_state; VG_HS_ABSENT: the entry is free */
	uint32_t prev, next; /* LRU list, most recent first */
	uint32_t chain; /* next entry in the same bucket */
};

struct vg_hcache {
	struct vg_hcache_ent *ent;
	uint32_t *bucket; /* nbucket heads, index + 1 (0: empty) */
	uint32_t cap, nbucket, used;
	uint32_t head, tail; /* index + 1 (0: none) */
};

int vg_hcache_init(struct vg_hcache *c, uint32_t cap);
void vg_hcache_free(struct vg_hcache *c);
/* The entry's state (VG_HS_ABSENT when not cached), its digests in *v when DONE; marks it used. */
enum vg_hash_state vg_hcache_get(struct vg_hcache *c, const struct vg_hash_key *k,
				 struct vg_hash_val *v);
/* Insert or update k, evicting the least recently used entry when full. */
void vg_hcache_put(struct vg_hcache *c, const struct vg_hash_key *k, enum vg_hash_state st,
		   const struct vg_hash_val *v);

struct vg_hasher;

/* Start the worker: files over max_size are not read. 0 or a negative errno. */
int vg_hasher_start(struct vg_hasher **h, uint64_t max_size);
void vg_hasher_stop(struct vg_hasher *h);
/* The cache's state for k (vg_hcache_get under the lock). */
enum vg_hash_state vg_hasher_get(struct vg_hasher *h, const struct vg_hash_key *k,
				 struct vg_hash_val *v);
/*
 * Hash the open file fd, whose fstat gave k, unless the cache knows it: the
 * hasher takes fd (closes it in every case). Returns the state of k after
 * the call: DONE/TOO_LARGE/UNREADABLE from the cache, PENDING when queued
 * (or already queued), ABSENT when the queue was full.
 */
enum vg_hash_state vg_hasher_submit(struct vg_hasher *h, int fd, const struct vg_hash_key *k);
/* Wait until the worker has nothing queued, at most ms milliseconds; 0 or -ETIMEDOUT. */
int vg_hasher_wait(struct vg_hasher *h, int ms);
/* Files the worker read and hashed, the ones it could not read, and all it finished with. */
void vg_hasher_counts(struct vg_hasher *h, uint64_t *hashed, uint64_t *unreadable, uint64_t *done);

/* Digests of fd's contents, reading at most max bytes (-EFBIG beyond); 0 or a negative errno. */
int vg_hash_fd(int fd, uint64_t max, struct vg_hash_val *v, uint64_t *size);

#endif
