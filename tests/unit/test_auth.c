// SPDX-License-Identifier: GPL-2.0-only
/*
 * The keyed handshake and the identity it binds, through the portable core
 * (vg_conn) and a real store: what a peer without the key, or with the key
 * of one device, can and cannot make the host store.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "batch.h"
#include "conn.h"
#include "store.h"
#include "wire.h"

static char dir[64], dbpath[128];
static struct vg_store *st;
static struct vg_keys keys;

/* Two devices' keys, as `vigil keygen` writes them. */
static const char keytext[] =
	"# test keys\n"
	"devA 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	"devB 1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\n";

static void setup(void)
{
	unsigned bad = 0;

	strcpy(dir, "/tmp/vigil-auth-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	cr_assert_eq(vg_keys_parse(&keys, keytext, strlen(keytext), &bad), 0, "line %u", bad);
	cr_assert_eq(keys.n, 2);
}

static void teardown(void)
{
	char cmd[160];

	vg_keys_free(&keys);
	vg_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 30);

static long long count(const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	cr_assert_eq(sqlite3_prepare_v2(vg_store_db(st), sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* Frame type/seq around payload and feed it to c. */
static int feed(struct vg_conn *c, uint8_t type, uint16_t flags, uint64_t seq, const void *p,
		size_t len)
{
	uint8_t *f;
	size_t flen;
	int err;

	cr_assert_eq(vg_wire_frame(type, flags, seq, p, len, &f, &flen), 0);
	err = vg_conn_input(c, st, f, flen);
	free(f);
	return err;
}

/*
 * A batch: device (NULL: none) and one event with report_id when events,
 * and a process counter whose seen count is seen. Sent as a HELLO when hello.
 */
static int feed_batch(struct vg_conn *c, int hello, uint64_t seq, const char *device,
		      uint64_t report_id, uint64_t seen)
{
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[] = { &ev };
	Vigil__V1__Counter cnt = VIGIL__V1__COUNTER__INIT, *cnts[] = { &cnt };
	Vigil__V1__DeviceInfo d = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	uint8_t *z;
	size_t zlen;
	int err;

	if (device) {
		d.device_id = (char *)device;
		b.device = &d;
	}
	if (!hello) {
		p.pid = 100;
		p.exe = "/usr/bin/true";
		pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
		pe.process = &p;
		ev.report_id = report_id;
		ev.time_ns = 1795694400000000000ull + report_id;
		ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
		ev.process = &pe;
		b.n_events = 1;
		b.events = evs;
		cnt.event_class = "process";
		cnt.seen = cnt.emitted = seen;
		b.n_counters = 1;
		b.counters = cnts;
	}
	cr_assert_eq(vg_batch_pack(&b, 1, &z, &zlen), 0);
	err = feed(c, hello ? VG_FRAME_HELLO : VG_FRAME_BATCH, VG_FRAME_F_ZSTD, seq, z, zlen);
	free(z);
	return err;
}

static void conn_init(struct vg_conn *c, unsigned id, int required)
{
	vg_conn_init(c, id);
	c->keys = &keys;
	c->auth_required = required;
}

/*
 * The daemon's side of the handshake as device id with key (NULL: that
 * device's own): begin, check the host's proof, send ours. The result of
 * the proof's vg_conn_input().
 */
static int handshake(struct vg_conn *c, const char *id, const uint8_t *key)
{
	uint8_t begin[VG_AUTH_NONCE_LEN + VG_AUTH_ID_MAX], mac[VG_AUTH_MAC_LEN];
	const struct vg_key *k = vg_keys_find(&keys, id, strlen(id));
	struct vg_frame_hdr h;
	const uint8_t *ch;

	cr_assert_not_null(k);
	if (!key)
		key = k->key;
	cr_assert_eq(vg_random(begin, VG_AUTH_NONCE_LEN), 0);
	memcpy(begin + VG_AUTH_NONCE_LEN, id, strlen(id));
	cr_assert_eq(
		feed(c, VG_FRAME_AUTH, 0, VG_AUTH_BEGIN, begin, VG_AUTH_NONCE_LEN + strlen(id)), 0);
	/* The host's CHALLENGE: its nonce and its proof over ours. */
	cr_assert_geq(c->out_len, VG_FRAME_HDR_LEN + VG_AUTH_NONCE_LEN + VG_AUTH_MAC_LEN);
	cr_assert_eq(vg_frame_hdr_unpack(c->out, &h), 0);
	cr_assert_eq(h.type, VG_FRAME_CHALLENGE);
	cr_assert_eq(h.len, VG_AUTH_NONCE_LEN + VG_AUTH_MAC_LEN);
	ch = c->out + VG_FRAME_HDR_LEN;
	cr_assert_eq(vg_auth_mac(k->key, 1, begin, ch, id, strlen(id), mac), 0);
	cr_assert(vg_auth_mac_equal(mac, ch + VG_AUTH_NONCE_LEN), "the host's proof is wrong");
	cr_assert_eq(vg_auth_mac(key, 0, begin, ch, id, strlen(id), mac), 0);
	vg_conn_consume(c, VG_FRAME_HDR_LEN + h.len);
	return feed(c, VG_FRAME_AUTH, 0, VG_AUTH_PROOF, mac, sizeof(mac));
}

Test(auth, key_file_lines)
{
	static const char *const bad[] = {
		"devA 0001\n", /* short key */
		"devA zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"devA\n",
		"devA 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"devA 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct vg_keys k = { 0 };
		unsigned line = 0;

		cr_assert_eq(vg_keys_parse(&k, bad[i], strlen(bad[i]), &line), -EINVAL, "%zu", i);
		cr_assert_eq(line, i == 3 ? 2u : 1u);
		vg_keys_free(&k);
	}
}

Test(auth, right_key_then_events_under_that_device)
{
	struct vg_conn c;

	conn_init(&c, 1, 1);
	cr_assert_eq(handshake(&c, "devA", NULL), 0);
	cr_assert_eq(feed_batch(&c, 1, 0, "devA", 0, 0), 0);
	/* No DeviceInfo in the batch: stored under the proven device all the same. */
	cr_assert_eq(feed_batch(&c, 0, 1, NULL, 1, 5), 0);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = 'devA'"), 1);
	cr_assert_eq(count("SELECT Seen FROM SensorCounters WHERE DeviceId = 'devA'"), 5);
	vg_conn_free(&c);
}

Test(auth, wrong_key_refused_and_counted)
{
	uint8_t other[VG_AUTH_KEY_LEN] = { 0x42 };
	struct vg_conn c;

	conn_init(&c, 1, 1);
	cr_assert_eq(handshake(&c, "devA", other), -EACCES);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE Reason = 'wrong key'"), 1);
	/* The connection is closed by its owner; nothing it sends is stored meanwhile. */
	cr_assert_neq(feed_batch(&c, 0, 1, "devA", 1, 5), 0);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents"), 0);
	vg_conn_free(&c);
}

Test(auth, unknown_device_and_no_handshake_refused)
{
	uint8_t begin[VG_AUTH_NONCE_LEN + 4] = { 0 };
	struct vg_conn c;

	conn_init(&c, 1, 1);
	memcpy(begin + VG_AUTH_NONCE_LEN, "devX", 4);
	cr_assert_eq(feed(&c, VG_FRAME_AUTH, 0, VG_AUTH_BEGIN, begin, sizeof(begin)), -EACCES);
	vg_conn_free(&c);
	/* A HELLO and a batch without the handshake, as a peer without a key sends them. */
	conn_init(&c, 2, 1);
	cr_assert_eq(feed_batch(&c, 1, 0, "devA", 0, 0), -EACCES);
	vg_conn_free(&c);
	conn_init(&c, 3, 1);
	cr_assert_eq(feed_batch(&c, 0, 1, "devA", 1, 5), -EACCES);
	vg_conn_free(&c);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents"), 0);
	cr_assert_eq(count("SELECT count(*) FROM SensorCounters"), 0);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE Reason = 'no key for the device'"),
		     1);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = ''"
			   " AND Reason LIKE 'not authenticated%'"),
		     2);
}

Test(auth, hello_naming_another_device_refused_and_counted)
{
	struct vg_conn c;

	conn_init(&c, 1, 1);
	cr_assert_eq(handshake(&c, "devA", NULL), 0);
	cr_assert_eq(feed_batch(&c, 1, 0, "devB", 0, 0), -EACCES);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = 'devA'"
			   " AND Reason = 'hello names another device'"),
		     1);
	cr_assert_eq(count("SELECT count(*) FROM DeviceInfo WHERE DeviceId = 'devB'"), 0);
	vg_conn_free(&c);
}

/* A batch switching the device mid-connection cannot overwrite devB's counters. */
Test(auth, device_switch_in_a_batch_refused_and_counters_kept)
{
	struct vg_conn a, b;

	conn_init(&b, 1, 1);
	cr_assert_eq(handshake(&b, "devB", NULL), 0);
	cr_assert_eq(feed_batch(&b, 1, 0, "devB", 0, 0), 0);
	cr_assert_eq(feed_batch(&b, 0, 1, "devB", 1, 7), 0);
	cr_assert_eq(count("SELECT Seen FROM SensorCounters WHERE DeviceId = 'devB'"), 7);

	conn_init(&a, 2, 1);
	cr_assert_eq(handshake(&a, "devA", NULL), 0);
	cr_assert_eq(feed_batch(&a, 1, 0, "devA", 0, 0), 0);
	cr_assert_eq(feed_batch(&a, 0, 1, "devA", 2, 3), 0);
	cr_assert_eq(feed_batch(&a, 0, 2, "devB", 3, 999), -EACCES);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = 'devA'"
			   " AND Reason = 'batch names another device'"),
		     1);
	cr_assert_eq(count("SELECT Seen FROM SensorCounters WHERE DeviceId = 'devB'"), 7);
	cr_assert_eq(count("SELECT Seen FROM SensorCounters WHERE DeviceId = 'devA'"), 3);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = 'devB'"), 1);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE ReportId = 3"), 0);
	vg_conn_free(&a);
	vg_conn_free(&b);
}

/* Without a key (root on a root-only unix socket) the first device named is the connection's. */
Test(auth, trusted_peer_bound_to_its_first_device)
{
	struct vg_conn c;

	conn_init(&c, 1, 0);
	cr_assert_eq(feed_batch(&c, 1, 0, "devA", 0, 0), 0);
	cr_assert_eq(feed_batch(&c, 0, 1, NULL, 1, 4), 0);
	cr_assert_eq(feed_batch(&c, 0, 2, "devB", 2, 999), -EACCES);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = 'devA'"
			   " AND Reason = 'batch names another device'"),
		     1);
	cr_assert_eq(count("SELECT count(*) FROM SensorCounters WHERE DeviceId = 'devB'"), 0);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = 'devA'"), 1);
	vg_conn_free(&c);
	/* Nor can a key proven after its HELLO make it another device. */
	conn_init(&c, 2, 0);
	cr_assert_eq(feed_batch(&c, 1, 0, "devA", 0, 0), 0);
	cr_assert_eq(handshake(&c, "devB", NULL), -EACCES);
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = 'devA'"
			   " AND Reason = 'hello names another device'"),
		     1);
	vg_conn_free(&c);
}
