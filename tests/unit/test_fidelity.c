// SPDX-License-Identifier: GPL-2.0-only
/* The container of a cgroup path, the image hash cache and the hash worker (daemon/cgroup.c, hash.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "hash.h"

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void assert_container(const char *path, const char *id, const char *name)
{
	struct vg_container c;

	cr_assert_eq(vg_cgroup_parse(path, &c), 1, "%s: no container", path);
	cr_assert_str_eq(c.id, id, "%s", path);
	cr_assert_str_eq(c.name, name, "%s", path);
}

static void assert_no_container(const char *path)
{
	struct vg_container c;

	cr_assert_eq(vg_cgroup_parse(path, &c), 0, "%s: %s/%s", path, c.id, c.name);
	cr_assert_str_eq(c.id, "");
	cr_assert_str_eq(c.name, "");
}

Test(cgroup, runtimes_name_their_containers)
{
	assert_container("/system.slice/docker-" ID64 ".scope", ID64, "");
	assert_container("/sys/fs/cgroup/unified/docker-" ID64 ".scope", ID64, "");
	assert_container("/docker/" ID64, ID64, "");
	assert_container("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
			 "cri-containerd-" ID64 ".scope",
			 ID64, "");
	assert_container("/kubepods.slice/kubepods-pod2.slice/crio-" ID64 ".scope", ID64, "");
	assert_container("/machine.slice/libpod-" ID64 ".scope/container", ID64, "");
	assert_container("/machine.slice/machine-web\\x2d1.scope", "", "web-1");
	assert_container("/machine.slice/machine-db.scope/payload/system.slice", "", "db");
	/* The innermost wins: docker inside an nspawn machine. */
	assert_container("/machine.slice/machine-host.scope/system.slice/docker-" ID64 ".scope",
			 ID64, "");
}

Test(cgroup, look_alikes_are_no_container)
{
	assert_no_container("/");
	assert_no_container("");
	assert_no_container("/user.slice/user-1000.slice/session-2.scope");
	assert_no_container("/system.slice/docker.service");
	/* conmon is the runtime's monitor, not the container. */
	assert_no_container("/machine.slice/libpod-conmon-" ID64 ".scope");
	/* Not 64 hex digits: short, long, upper case, not hex. */
	assert_no_container("/system.slice/docker-0123456789abcdef.scope");
	assert_no_container("/system.slice/docker-" ID64 "0.scope");
	assert_no_container("/system.slice/docker-0123456789ABCDEF0123456789abcdef0123456789abcdef"
			    "0123456789abcdef.scope");
	assert_no_container("/system.slice/docker-g123456789abcdef0123456789abcdef0123456789abcdef"
			    "0123456789abcdef.scope");
	assert_no_container("/docker/" ID64 "x");
	assert_no_container("/notdocker/" ID64);
	assert_no_container("/system.slice/docker-" ID64 ".scopes");
	assert_no_container("/machine.slice/machine-.scope");
}

Test(cgroup, escaped_names_and_long_ones)
{
	char path[512], name[300];
	struct vg_container c;

	/* A NUL escape is kept as text, never cut the name. */
	assert_container("/machine-a\\x00b.scope", "", "a\\x00b");
	memset(name, 'n', 250);
	name[250] = '\0';
	snprintf(path, sizeof(path), "/machine-%s.scope", name);
	cr_assert_eq(vg_cgroup_parse(path, &c), 1);
	cr_assert_eq(strlen(c.name), VG_CONTAINER_NAME_MAX - 1, "cut to the buffer");
}

static struct vg_hash_key key(uint64_t ino)
{
	return (struct vg_hash_key){ .dev = 2049, .ino = ino, .size = 100, .mtime_ns = 7 };
}

Test(hash_cache, key_is_device_inode_size_and_mtime)
{
	struct vg_hcache c;
	struct vg_hash_key k = key(1), other;
	struct vg_hash_val v = { .sha256 = { 1 }, .sha1 = { 2 } }, got;

	cr_assert_eq(vg_hcache_init(&c, 8), 0);
	vg_hcache_put(&c, &k, VG_HS_DONE, &v);
	cr_assert_eq(vg_hcache_get(&c, &k, &got), VG_HS_DONE);
	cr_assert_eq(memcmp(&got, &v, sizeof(v)), 0);
	/* The same inode rewritten (size or mtime) or on another device is another file. */
	other = k;
	other.size++;
	cr_assert_eq(vg_hcache_get(&c, &other, NULL), VG_HS_ABSENT);
	other = k;
	other.mtime_ns++;
	cr_assert_eq(vg_hcache_get(&c, &other, NULL), VG_HS_ABSENT);
	other = k;
	other.dev++;
	cr_assert_eq(vg_hcache_get(&c, &other, NULL), VG_HS_ABSENT);
	/* States are remembered too, and updated in place. */
	other = key(2);
	vg_hcache_put(&c, &other, VG_HS_PENDING, NULL);
	cr_assert_eq(vg_hcache_get(&c, &other, NULL), VG_HS_PENDING);
	vg_hcache_put(&c, &other, VG_HS_TOO_LARGE, NULL);
	cr_assert_eq(vg_hcache_get(&c, &other, NULL), VG_HS_TOO_LARGE);
	cr_assert_eq(c.used, 2);
	vg_hcache_free(&c);
}

Test(hash_cache, least_recently_used_goes_first)
{
	struct vg_hcache c;
	struct vg_hash_key k;

	cr_assert_eq(vg_hcache_init(&c, 4), 0);
	for (uint64_t i = 1; i <= 4; i++) {
		k = key(i);
		vg_hcache_put(&c, &k, VG_HS_DONE, NULL);
	}
	/* 1 used again: 2 is now the least recent, and a fifth file evicts it. */
	k = key(1);
	cr_assert_eq(vg_hcache_get(&c, &k, NULL), VG_HS_DONE);
	k = key(5);
	vg_hcache_put(&c, &k, VG_HS_DONE, NULL);
	cr_assert_eq(c.used, 4);
	k = key(2);
	cr_assert_eq(vg_hcache_get(&c, &k, NULL), VG_HS_ABSENT, "2 should have been evicted");
	for (uint64_t i = 1; i <= 5; i++) {
		k = key(i);
		if (i != 2)
			cr_assert_eq(vg_hcache_get(&c, &k, NULL), VG_HS_DONE, "%llu evicted",
				     (unsigned long long)i);
	}
	/* Many more than fit: the count stays at the capacity, every lookup still works. */
	for (uint64_t i = 100; i < 1100; i++) {
		k = key(i);
		vg_hcache_put(&c, &k, VG_HS_DONE, NULL);
		cr_assert_eq(vg_hcache_get(&c, &k, NULL), VG_HS_DONE);
	}
	cr_assert_eq(c.used, 4);
	for (uint64_t i = 1096; i < 1100; i++) {
		k = key(i);
		cr_assert_eq(vg_hcache_get(&c, &k, NULL), VG_HS_DONE);
	}
	vg_hcache_free(&c);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* A temp file holding text; its fd (read-only) and its fstat key. */
static int temp_file(const char *text, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/vg-hash-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	return fd;
}

Test(hash, digests_of_a_file)
{
	char path[64], h[65];
	struct vg_hash_val v;
	uint64_t size = 0;
	int fd = temp_file("abc", path, sizeof(path));

	cr_assert_eq(vg_hash_fd(fd, 1 << 20, &v, &size), 0);
	cr_assert_eq(size, 3);
	hex(v.sha256, 32, h);
	cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hex(v.sha1, 20, h);
	cr_assert_str_eq(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* Over the cap: refused, not hashed in part. */
	cr_assert_eq(vg_hash_fd(fd, 2, &v, &size), -EFBIG);
	close(fd);
	unlink(path);
}

Test(hash, worker_hashes_once_and_remembers)
{
	struct vg_hasher *h;
	struct vg_hash_key k = { .dev = 1, .ino = 42, .size = 3, .mtime_ns = 1 }, big = k;
	struct vg_hash_val v;
	uint64_t hashed, unreadable, done;
	char path[64], s[65];
	int fd = temp_file("abc", path, sizeof(path));

	cr_assert_eq(vg_hasher_start(&h, 1 << 20), 0);
	cr_assert_eq(vg_hasher_submit(h, fd, &k), VG_HS_PENDING);
	cr_assert_eq(vg_hasher_wait(h, 60000), 0);
	cr_assert_eq(vg_hasher_get(h, &k, &v), VG_HS_DONE);
	hex(v.sha256, 32, s);
	cr_assert_str_eq(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Known now: the next exec of the same file is not read again. */
	fd = open(path, O_RDONLY);
	cr_assert_eq(vg_hasher_submit(h, fd, &k), VG_HS_DONE);
	/* Over the cap by its size: remembered as too large without a read. */
	big.ino = 43;
	big.size = (2 << 20);
	fd = open(path, O_RDONLY);
	cr_assert_eq(vg_hasher_submit(h, fd, &big), VG_HS_TOO_LARGE);
	/* A file whose size is not the one stat gave (written since): unreadable. */
	k.ino = 44;
	k.size = 4;
	fd = open(path, O_RDONLY);
	cr_assert_eq(vg_hasher_submit(h, fd, &k), VG_HS_PENDING);
	cr_assert_eq(vg_hasher_wait(h, 60000), 0);
	cr_assert_eq(vg_hasher_get(h, &k, NULL), VG_HS_UNREADABLE);
	vg_hasher_counts(h, &hashed, &unreadable, &done);
	cr_assert_eq(hashed, 1);
	cr_assert_eq(unreadable, 1);
	cr_assert_eq(done, 2);
	vg_hasher_stop(h);
	unlink(path);
}
