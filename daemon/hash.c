// SPDX-License-Identifier: GPL-2.0-only
/* Image hashing: the LRU cache, nettle's SHA-256/SHA-1 over a file, the worker thread. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "deadline.h"
#include "hash.h"
#include "log.h"

#define VG_HASH_BUF (128u << 10)

static uint32_t vg_hkey_hash(const struct vg_hash_key *k, uint32_t n)
{
	uint64_t h = k->dev * 0x9e3779b97f4a7c15ull ^ k->ino * 0xc2b2ae3d27d4eb4full ^
		     k->size * 0x165667b19e3779f9ull ^ (uint64_t)k->mtime_ns;

	h ^= h >> 31;
	return (uint32_t)(h % n);
}

static int vg_hkey_eq(const struct vg_hash_key *a, const struct vg_hash_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

int vg_hcache_init(struct vg_hcache *c, uint32_t cap)
{
	memset(c, 0, sizeof(*c));
	c->cap = cap ? cap : 1;
	c->nbucket = c->cap * 2;
	c->ent = calloc(c->cap, sizeof(*c->ent));
	c->bucket = calloc(c->nbucket, sizeof(*c->bucket));
	if (!c->ent || !c->bucket) {
		vg_hcache_free(c);
		return -ENOMEM;
	}
	return 0;
}

void vg_hcache_free(struct vg_hcache *c)
{
	free(c->ent);
	free(c->bucket);
	memset(c, 0, sizeof(*c));
}

/* Index + 1 of k's entry, 0 when absent. */
static uint32_t vg_hcache_find(struct vg_hcache *c, const struct vg_hash_key *k)
{
	for (uint32_t i = c->bucket[vg_hkey_hash(k, c->nbucket)]; i; i = c->ent[i - 1].chain)
		if (vg_hkey_eq(&c->ent[i - 1].key, k))
			return i;
	return 0;
}

static void vg_lru_unlink(struct vg_hcache *c, uint32_t i)
{
	struct vg_hcache_ent *e = &c->ent[i - 1];

	if (e->prev)
		c->ent[e->prev - 1].next = e->next;
	else
		c->head = e->next;
	if (e->next)
		c->ent[e->next - 1].prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = 0;
}

static void vg_lru_front(struct vg_hcache *c, uint32_t i)
{
	struct vg_hcache_ent *e = &c->ent[i - 1];

	e->prev = 0;
	e->next = c->head;
	if (c->head)
		c->ent[c->head - 1].prev = i;
	c->head = i;
	if (!c->tail)
		c->tail = i;
}

enum vg_hash_state vg_hcache_get(struct vg_hcache *c, const struct vg_hash_key *k,
				 struct vg_hash_val *v)
{
	uint32_t i = vg_hcache_find(c, k);

	if (!i)
		return VG_HS_ABSENT;
	vg_lru_unlink(c, i);
	vg_lru_front(c, i);
	if (v && c->ent[i - 1].state == VG_HS_DONE)
		*v = c->ent[i - 1].val;
	return c->ent[i - 1].state;
}

static void vg_hcache_evict(struct vg_hcache *c, uint32_t i)
{
	struct vg_hcache_ent *e = &c->ent[i - 1];
	uint32_t *p = &c->bucket[vg_hkey_hash(&e->key, c->nbucket)];

	while (*p != i)
		p = &c->ent[*p - 1].chain;
	*p = e->chain;
	vg_lru_unlink(c, i);
	memset(e, 0, sizeof(*e));
	c->used--;
}

void vg_hcache_put(struct vg_hcache *c, const struct vg_hash_key *k, enum vg_hash_state st,
		   const struct vg_hash_val *v)
{
	uint32_t i = vg_hcache_find(c, k), b;

	if (!i) {
		/* Slots fill in order; once full, the evicted entry's slot is the free one. */
		if (c->used == c->cap) {
			i = c->tail;
			vg_hcache_evict(c, i);
		} else {
			i = c->used + 1;
		}
		b = vg_hkey_hash(k, c->nbucket);
		c->ent[i - 1].key = *k;
		c->ent[i - 1].chain = c->bucket[b];
		c->bucket[b] = i;
		c->used++;
	} else {
		vg_lru_unlink(c, i);
	}
	vg_lru_front(c, i);
	c->ent[i - 1].state = (uint8_t)st;
	if (v)
		c->ent[i - 1].val = *v;
}

int vg_hash_fd(int fd, uint64_t max, struct vg_hash_val *v, uint64_t *size)
{
	struct sha256_ctx s256;
	struct sha1_ctx s1;
	uint8_t *buf = malloc(VG_HASH_BUF);
	uint64_t total = 0;
	off_t off = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	sha256_init(&s256);
	sha1_init(&s1);
	for (;;) {
		n = pread(fd, buf, VG_HASH_BUF, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (uint64_t)n;
		off += n;
		if (total > max) {
			free(buf);
			return -EFBIG;
		}
		sha256_update(&s256, (size_t)n, buf);
		sha1_update(&s1, (size_t)n, buf);
	}
	free(buf);
	if (n < 0)
		return -errno;
	sha256_digest(&s256, sizeof(v->sha256), v->sha256);
	sha1_digest(&s1, sizeof(v->sha1), v->sha1);
	if (size)
		*size = total;
	return 0;
}

struct vg_hjob {
	int fd;
	struct vg_hash_key key;
};

struct vg_hasher {
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	pthread_t thread;
	struct vg_hcache cache;
	struct vg_hjob q[VG_HASH_QUEUE];
	unsigned int qhead, qlen, busy;
	int stop;
	uint64_t max_size;
	uint64_t hashed, unreadable;
	uint64_t done; /* files the worker finished with, hashed or not */
};

static void *vg_hasher_main(void *arg)
{
	struct vg_hasher *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		struct vg_hjob j;
		struct vg_hash_val v;
		uint64_t size = 0;
		int err;

		while (!h->qlen && !h->stop)
			pthread_cond_wait(&h->work, &h->mu);
		if (h->stop)
			break;
		j = h->q[h->qhead];
		h->qhead = (h->qhead + 1) % VG_HASH_QUEUE;
		h->qlen--;
		h->busy = 1;
		pthread_mutex_unlock(&h->mu);

		err = vg_hash_fd(j.fd, h->max_size, &v, &size);
		close(j.fd);
		/* A file written while it was read is not the one the kernel exec'd. */
		if (!err && size != j.key.size)
			err = -ESTALE;
		if (err)
			vg_log(VG_DEBUG, "hash of inode %llu: %s", (unsigned long long)j.key.ino,
			       strerror(-err));

		pthread_mutex_lock(&h->mu);
		if (err == -EFBIG) {
			vg_hcache_put(&h->cache, &j.key, VG_HS_TOO_LARGE, NULL);
		} else if (err) {
			vg_hcache_put(&h->cache, &j.key, VG_HS_UNREADABLE, NULL);
			h->unreadable++;
		} else {
			vg_hcache_put(&h->cache, &j.key, VG_HS_DONE, &v);
			h->hashed++;
		}
		h->busy = 0;
		h->done++;
		if (!h->qlen)
			pthread_cond_broadcast(&h->idle);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int vg_hasher_start(struct vg_hasher **out, uint64_t max_size)
{
	struct vg_hasher *h = calloc(1, sizeof(*h));
	int err;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->max_size = max_size;
	err = vg_hcache_init(&h->cache, VG_HASH_CACHE);
	if (err) {
		free(h);
		return err;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->work, NULL);
	pthread_cond_init(&h->idle, NULL);
	err = pthread_create(&h->thread, NULL, vg_hasher_main, h);
	if (err) {
		vg_hcache_free(&h->cache);
		free(h);
		return -err;
	}
	*out = h;
	return 0;
}

/* Join t within ms milliseconds: 0, or -ETIMEDOUT. */
static int vg_join(pthread_t t, int ms)
{
	struct timespec ts = vg_deadline_ms(CLOCK_REALTIME, ms);

	return pthread_timedjoin_np(t, NULL, &ts) ? -ETIMEDOUT : 0;
}

void vg_hasher_stop(struct vg_hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->mu);
	/*
	 * A read stuck on a hung file system must not keep vigild from exiting:
	 * cancel it (pread is a cancellation point), and leave what it holds if
	 * even that does not end it.
	 */
	if (vg_join(h->thread, 2000)) {
		pthread_cancel(h->thread);
		if (vg_join(h->thread, 1000)) {
			vg_log(VG_WARN, "hash worker stuck in a read: left behind");
			return;
		}
	}
	for (unsigned int i = 0; i < h->qlen; i++)
		close(h->q[(h->qhead + i) % VG_HASH_QUEUE].fd);
	vg_hcache_free(&h->cache);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->work);
	pthread_cond_destroy(&h->idle);
	free(h);
}

enum vg_hash_state vg_hasher_get(struct vg_hasher *h, const struct vg_hash_key *k,
				 struct vg_hash_val *v)
{
	enum vg_hash_state st;

	pthread_mutex_lock(&h->mu);
	st = vg_hcache_get(&h->cache, k, v);
	pthread_mutex_unlock(&h->mu);
	return st;
}

enum vg_hash_state vg_hasher_submit(struct vg_hasher *h, int fd, const struct vg_hash_key *k)
{
	enum vg_hash_state st;

	pthread_mutex_lock(&h->mu);
	st = vg_hcache_get(&h->cache, k, NULL);
	if (st == VG_HS_ABSENT && k->size > h->max_size) {
		/* Not worth a trip through the queue: the size says it. */
		st = VG_HS_TOO_LARGE;
		vg_hcache_put(&h->cache, k, st, NULL);
	} else if (st == VG_HS_ABSENT && h->qlen < VG_HASH_QUEUE) {
		h->q[(h->qhead + h->qlen) % VG_HASH_QUEUE] =
			(struct vg_hjob){ .fd = fd, .key = *k };
		h->qlen++;
		fd = -1;
		st = VG_HS_PENDING;
		vg_hcache_put(&h->cache, k, st, NULL);
		pthread_cond_signal(&h->work);
	}
	pthread_mutex_unlock(&h->mu);
	if (fd >= 0)
		close(fd);
	return st;
}

int vg_hasher_wait(struct vg_hasher *h, int ms)
{
	struct timespec ts = vg_deadline_ms(CLOCK_REALTIME, ms);
	int err = 0;

	pthread_mutex_lock(&h->mu);
	while ((h->qlen || h->busy) && !err)
		err = pthread_cond_timedwait(&h->idle, &h->mu, &ts);
	pthread_mutex_unlock(&h->mu);
	return err ? -ETIMEDOUT : 0;
}

void vg_hasher_counts(struct vg_hasher *h, uint64_t *hashed, uint64_t *unreadable, uint64_t *done)
{
	pthread_mutex_lock(&h->mu);
	*hashed = h->hashed;
	*unreadable = h->unreadable;
	*done = h->done;
	pthread_mutex_unlock(&h->mu);
}
