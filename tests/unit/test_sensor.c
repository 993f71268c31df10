// SPDX-License-Identifier: GPL-2.0-only
/* The daemon's event core, driven with hand-made ring buffer records. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>

#include "fmt.h"
#include "sensor.h"
#include "store.h"
#include "store_int.h"
#include "vigil_abi.h"

static struct vg_sensor s;

static void setup(void)
{
	FILE *f = fopen("/tmp/vg-test-passwd", "w");

	cr_assert_not_null(f);
	fputs("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n", f);
	fclose(f);
	/* No /proc scan: the table holds only what the records say. */
	cr_assert_eq(vg_sensor_init(&s, NULL, "/tmp/vg-test-passwd"), 0);
}

static void teardown(void)
{
	vg_sensor_free(&s);
	remove("/tmp/vg-test-passwd");
}

static void task(struct vg_task *t, uint32_t pid, uint32_t ppid, uint32_t uid, const char *comm)
{
	memset(t, 0, sizeof(*t));
	t->pid = t->tgid = pid;
	t->ppid = ppid;
	t->uid = t->euid = uid;
	t->start_boot_ns = 1000;
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
}

/* Build an exec record in buf; returns its size. */
static size_t exec_rec(char *buf, uint32_t pid, uint32_t ppid, uint32_t uid, const char *path,
		       const char *args, size_t args_len, const char *cwd)
{
	struct vg_exec_event *e = (void *)buf;
	char *tail = (char *)(e + 1);
	size_t pl = strlen(path) + 1, cl = strlen(cwd) + 1;

	memset(e, 0, sizeof(*e));
	task(&e->task, pid, ppid, uid, strrchr(path, '/') + 1);
	e->hdr.type = VG_EV_EXEC;
	e->hdr.ts_boot_ns = 5000;
	e->path_len = (uint16_t)pl;
	e->argv_len = (uint16_t)args_len;
	e->cwd_len = (uint16_t)cl;
	memcpy(tail, path, pl);
	memcpy(tail + pl, args, args_len);
	memcpy(tail + pl + args_len, cwd, cl);
	e->hdr.size = (uint32_t)(sizeof(*e) + pl + args_len + cl);
	return e->hdr.size;
}

Test(sensor, exec_names_parent_and_grandparent, .init = setup, .fini = teardown)
{
	char buf[1024];
	Vigil__V1__ProcessEvent *pe;
	size_t n;

	n = exec_rec(buf, 10, 1, 0, "/sbin/init", "init\0", 5, "/");
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	n = exec_rec(buf, 20, 10, 0, "/usr/bin/bash", "bash\0", 5, "/root");
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	n = exec_rec(buf, 30, 20, 1000, "/usr/bin/curl", "curl\0-o\0a b\0", 12, "/home/alice");
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);

	cr_assert_eq(s.nevents, 3);
	pe = s.events[2]->process;
	cr_assert_eq(pe->action, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_str_eq(pe->process->exe, "/usr/bin/curl");
	cr_assert_eq(pe->process->n_argv, 3);
	cr_assert_str_eq(pe->process->argv[0], "curl");
	cr_assert_str_eq(pe->process->argv[2], "a b");
	cr_assert_str_eq(pe->process->cwd, "/home/alice");
	cr_assert_str_eq(pe->process->user, "alice");
	cr_assert_eq(pe->process->ppid, 20);
	cr_assert_not_null(pe->parent);
	cr_assert_str_eq(pe->parent->exe, "/usr/bin/bash");
	cr_assert_str_eq(pe->parent->user, "root");
	cr_assert_str_eq(pe->grandparent_exe, "/sbin/init");
	cr_assert_eq(s.events[0]->report_id + 2, s.events[2]->report_id, "report ids increase");
	cr_assert_eq(s.events[2]->time_ns, (uint64_t)(5000 + s.boot_to_epoch_ns));
}

Test(sensor, fork_inherits_image_exit_decodes_status, .init = setup, .fini = teardown)
{
	char buf[1024];
	struct vg_fork_event f;
	struct vg_exit_event x;
	Vigil__V1__ProcessEvent *pe;
	size_t n;

	n = exec_rec(buf, 20, 1, 0, "/usr/bin/make", "make\0-j2\0", 9, "/src");
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);

	memset(&f, 0, sizeof(f));
	f.hdr.type = VG_EV_FORK;
	f.hdr.size = sizeof(f);
	task(&f.task, 21, 20, 0, "make");
	cr_assert_eq(vg_sensor_record(&s, &f, sizeof(f)), 0);
	pe = s.events[1]->process;
	cr_assert_eq(pe->action, VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED);
	cr_assert_str_eq(pe->process->exe, "/usr/bin/make", "a child runs its parent's image");
	cr_assert_str_eq(pe->process->argv[1], "-j2");
	cr_assert_eq(pe->parent->pid, 20);

	memset(&x, 0, sizeof(x));
	x.hdr.type = VG_EV_EXIT;
	x.hdr.size = sizeof(x);
	task(&x.task, 21, 20, 0, "make");
	x.exit_code = 3 << 8;
	cr_assert_eq(vg_sensor_record(&s, &x, sizeof(x)), 0);
	pe = s.events[2]->process;
	cr_assert_eq(pe->action, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED);
	cr_assert_eq(pe->exit_code, 3);
	cr_assert_eq(pe->exit_signal, 0);
	cr_assert_not_null(vg_pt_get(&s.pt, 21), "kept for events still in other rings");
	cr_assert_eq(vg_pt_sweep_exited(&s.pt, UINT64_MAX), 1);
	cr_assert_null(vg_pt_get(&s.pt, 21), "an exited process leaves the table once swept");

	task(&x.task, 20, 1, 0, "make");
	x.exit_code = 9 | 0x80; /* SIGKILL, core */
	cr_assert_eq(vg_sensor_record(&s, &x, sizeof(x)), 0);
	pe = s.events[3]->process;
	cr_assert_eq(pe->exit_signal, 9);
	cr_assert_eq(pe->exit_code, 0);
	cr_assert(pe->core_dumped);

	vg_sensor_batch_done(&s);
	cr_assert_eq(s.nevents, 0);
	cr_assert_eq(s.lost, 0);
}

Test(sensor, malformed_records_are_counted, .init = setup, .fini = teardown)
{
	char buf[1024];
	struct vg_exec_event *e = (void *)buf;
	struct vg_event_hdr h = { .type = 99, .size = sizeof(h) };
	size_t n;

	cr_assert_eq(vg_sensor_record(&s, &h, sizeof(h)), -EBADMSG, "unknown type");
	cr_assert_eq(vg_sensor_record(&s, buf, 4), -EBADMSG, "short record");

	n = exec_rec(buf, 30, 1, 0, "/bin/x", "x\0", 2, "/");
	e->path_len = 200; /* lengths past the record */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);

	n = exec_rec(buf, 30, 1, 0, "/bin/x", "x\0", 2, "/");
	buf[sizeof(*e) + 6] = 'y'; /* path not NUL-terminated */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);

	e->hdr.size = (uint32_t)n + 1; /* claims more than it has */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);

	cr_assert_eq(s.lost, 5);
	cr_assert_eq(s.nevents, 0);
}

/*
 * A BPF program's name reaches the host as the record said it (a detail of
 * the event), and the host writes it into AdditionalFields through the JSON
 * rule (lib/esc.h): a name the kernel allows is kept as it is, anything else
 * is escaped, so the field stays valid JSON that keeps what the record said.
 */
Test(sensor, bpf_load_name_is_json_escaped, .init = setup, .fini = teardown)
{
	static const char *const names[][2] = {
		{ "tprobe", "\"ProgramName\":\"tprobe\"" },
		{ "a\"b\\c\n\x1b\x7f\xff.d",
		  "\"ProgramName\":\"a\\\"b\\\\c\\n\\u001b\\u007f\\ufffd.d\"" },
		{ "0123456789abcdef", "\"ProgramName\":\"0123456789abcdef\"" }, /* all 16 bytes */
	};
	struct vg_sb j;

	vg_sb_init(&j);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct vg_sec_event e;
		const char *fields;

		memset(&e, 0, sizeof(e));
		e.hdr.type = VG_EV_SEC;
		e.hdr.size = sizeof(e);
		task(&e.task, 40, 1, 0, "loader");
		e.op = VG_SEC_BPF_LOAD;
		e.target = 26;
		memcpy(e.name, names[i][0], strnlen(names[i][0], sizeof(e.name)));
		cr_assert_eq(vg_sensor_record(&s, &e, sizeof(e)), 0);
		cr_assert_str_eq(s.events[i]->security->action_type, "BpfProgramLoad");
		cr_assert_str_empty(s.events[i]->security->additional_fields,
				    "JSON built by the sensor");
		cr_assert_str_eq(s.events[i]->security->details[0]->text, names[i][0]);
		vg_sb_reset(&j);
		fields = vg_store_details_json(&j, s.events[i]->security);
		cr_assert_not_null(strstr(fields, names[i][1]), "%s", fields);
		cr_assert_not_null(strstr(fields, "\"ProgramType\":26"), "%s", fields);
	}
	vg_sb_free(&j);
}

/* Exec of the file at path with the kernel's idea of its inode and device. */
static size_t exec_of(char *buf, uint32_t pid, const char *path, uint64_t ino, dev_t dev)
{
	size_t n = exec_rec(buf, pid, 1, 0, path, "img\0", 4, "/");
	struct vg_exec_event *e = (void *)buf;

	e->exe_ino = ino;
	e->exe_dev = (uint32_t)(major(dev) << 20 | minor(dev));
	return n;
}

static const uint8_t sha256_abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

Test(sensor, image_digests_only_of_the_file_the_kernel_named, .init = setup, .fini = teardown)
{
	char buf[1024], path[] = "/tmp/vg-img-XXXXXX", other[] = "/tmp/vg-img2-XXXXXX";
	Vigil__V1__Process *p;
	struct stat st;
	int fd;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "abc", 3), 3);
	close(fd);
	cr_assert_eq(stat(path, &st), 0);
	s.hash_wait_ms = 60000;
	cr_assert_eq(vg_hasher_start(&s.hasher, 1 << 20), 0);

	/* The file the exec record names: hashed, its size known. */
	cr_assert_eq(vg_sensor_record(&s, buf, exec_of(buf, 30, path, st.st_ino, st.st_dev)), 0);
	vg_sensor_hash_settle(&s);
	p = s.events[0]->process->process;
	cr_assert_eq(p->sha256.len, 32);
	cr_assert_arr_eq(p->sha256.data, sha256_abc, 32);
	cr_assert_eq(p->sha1.len, 20);
	cr_assert_eq(p->exe_size, 3);

	/* The same process execs an image that is gone: nothing of the previous one. */
	cr_assert_eq(vg_sensor_record(&s, buf, exec_of(buf, 30, "/nonexistent/img", 999, 1)), 0);
	vg_sensor_hash_settle(&s);
	p = s.events[1]->process->process;
	cr_assert_eq(p->sha256.len, 0);
	cr_assert_eq(p->exe_size, 0, "the previous image's size");
	cr_assert_eq(s.hstats.gone, 1);

	/* The path swapped for another file since the exec: not hashed, counted gone. */
	fd = mkstemp(other);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "xyz!", 4), 4);
	close(fd);
	cr_assert_eq(rename(other, path), 0);
	cr_assert_eq(vg_sensor_record(&s, buf, exec_of(buf, 31, path, st.st_ino, st.st_dev)), 0);
	vg_sensor_hash_settle(&s);
	p = s.events[2]->process->process;
	cr_assert_eq(p->sha256.len, 0, "a swapped path was hashed");
	cr_assert_eq(p->exe_size, 0);
	cr_assert_eq(s.hstats.gone, 2);
	cr_assert_eq(s.hstats.late, 0);
	unlink(path);
}

static int fulls;

static int count_full(void *ctx)
{
	(void)ctx;
	fulls++;
	vg_sensor_batch_done(&s);
	return 0;
}

/*
 * Records of one drain are handled in kernel-time order: a record that
 * came after its process's next exec (another ring) names the image of its
 * time, and the batch callback runs as events pile up.
 */
Test(sensor, queued_records_are_handled_in_time_order, .init = setup, .fini = teardown)
{
	char a[512], b[512];
	struct vg_exec_event *e1 = (void *)a, *e2 = (void *)b;
	struct vg_sec_event sec;
	size_t n1 = exec_rec(a, 50, 1, 1000, "/bin/sh", "sh\0", 3, "/");
	size_t n2 = exec_rec(b, 50, 1, 0, "/usr/bin/true", "true\0", 5, "/");

	e1->hdr.ts_boot_ns = 3000;
	e2->hdr.ts_boot_ns = 5000;
	memset(&sec, 0, sizeof(sec));
	sec.hdr.type = VG_EV_SEC;
	sec.hdr.size = sizeof(sec);
	sec.hdr.ts_boot_ns = 4000;
	task(&sec.task, 50, 1, 1000, "sh");
	sec.op = VG_SEC_BPF_LOAD;

	/* drained in ring order: both execs (process ring) before the older load */
	cr_assert_eq(vg_sensor_queue(&s, a, n1), 0);
	cr_assert_eq(vg_sensor_queue(&s, b, n2), 0);
	cr_assert_eq(vg_sensor_queue(&s, &sec, sizeof(sec)), 0);
	cr_assert_eq(s.nevents, 0, "nothing handled before the drain settles");
	cr_assert_eq(vg_sensor_settle(&s, 1000, NULL, NULL), 0);
	cr_assert_eq(s.nevents, 3);
	cr_expect_eq(s.events[0]->body_case, VIGIL__V1__EVENT__BODY_PROCESS);
	cr_assert_eq(s.events[1]->body_case, VIGIL__V1__EVENT__BODY_SECURITY);
	cr_expect_str_eq(s.events[1]->security->process->exe, "/bin/sh");
	cr_expect_eq(s.events[1]->security->process->uid, 1000);
	cr_expect_str_eq(s.events[2]->process->process->exe, "/usr/bin/true");
	/* a record after the settled exec, from another drain: still the image of its time */
	sec.hdr.ts_boot_ns = 4500;
	cr_assert_eq(vg_sensor_queue(&s, &sec, sizeof(sec)), 0);
	cr_assert_eq(vg_sensor_settle(&s, 1000, NULL, NULL), 0);
	cr_expect_str_eq(s.events[3]->security->process->exe, "/bin/sh");
	vg_sensor_batch_done(&s);

	fulls = 0;
	cr_assert_eq(vg_sensor_queue(&s, a, n1), 0);
	cr_assert_eq(vg_sensor_queue(&s, b, n2), 0);
	cr_assert_eq(vg_sensor_settle(&s, 1, count_full, NULL), 0);
	cr_expect_eq(fulls, 2);
	cr_expect_eq(s.nqueue, 0);
}

/* A file record of op on base + rel, with rel2 (NULL: none), in buf; its size. */
static size_t file_rec(char *buf, uint32_t op, const char *base, const char *rel, const char *rel2)
{
	struct vg_file_event *e = (void *)buf;
	char *tail = (char *)(e + 1);

	memset(e, 0, sizeof(*e));
	task(&e->task, 50, 1, 0, "tool");
	e->hdr.type = VG_EV_FILE;
	e->hdr.ts_boot_ns = 6000;
	e->op = op;
	e->base_len = (uint16_t)(strlen(base) + 1);
	memcpy(tail, base, e->base_len);
	tail += e->base_len;
	e->rel_len = (uint16_t)(strlen(rel) + 1);
	memcpy(tail, rel, e->rel_len);
	tail += e->rel_len;
	if (rel2) {
		e->rel2_len = (uint16_t)(strlen(rel2) + 1);
		memcpy(tail, rel2, e->rel2_len);
		tail += e->rel2_len;
	}
	e->hdr.size = (uint32_t)(tail - buf);
	return e->hdr.size;
}

/*
 * The records of links, attributes and times say what they need or are
 * refused and counted; what they carry reaches AdditionalFields through the
 * JSON rule, setcap's set by capability name.
 */
Test(sensor, link_attribute_and_time_records, .init = setup, .fini = teardown)
{
	char buf[1024];
	struct vg_file_event *e = (void *)buf;
	struct vg_sb j;
	size_t n;

	vg_sb_init(&j);
	n = file_rec(buf, VG_FILE_SYMLINK, "/etc", "l", NULL); /* no target */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = file_rec(buf, VG_FILE_LINK, "/etc", "l", "x"); /* no directory of the target */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = file_rec(buf, VG_FILE_TIMES, "/etc", "f", NULL); /* no time given */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = file_rec(buf, VG_FILE_IMAGE_LOAD + 1, "/etc", "f", NULL);
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = file_rec(buf, VG_FILE_EXEC_SCRIPT, "/tmp", "", NULL); /* no script named */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	cr_assert_eq(s.lost, 5);
	cr_assert_eq(s.nevents, 0);

	n = file_rec(buf, VG_FILE_SYMLINK, "/etc", "l", "a\"b");
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	vg_file_fields(&j, s.events[0]->file);
	cr_expect_str_eq(s.events[0]->file->action_type, "SymlinkCreated");
	cr_expect_not_null(strstr(vg_sb_str(&j), "\"LinkTarget\":\"a\\\"b\""), "%s", vg_sb_str(&j));

	n = file_rec(buf, VG_FILE_XATTR, "/bin", "x", "security.capability");
	e->xattr_size = 20;
	e->cap_magic = 0x02000001; /* revision 2, effective */
	e->cap_permitted[0] = 1u << 7 | 1u << 13; /* cap_setuid, cap_net_raw */
	e->cap_permitted[1] = 1u << 8; /* 40: cap_checkpoint_restore */
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	vg_file_fields(&j, s.events[1]->file);
	cr_expect_not_null(strstr(vg_sb_str(&j),
				  "\"Capabilities\":\"cap_setuid,cap_net_raw,"
				  "cap_checkpoint_restore\",\"CapabilitiesEffective\":true"),
			   "%s", vg_sb_str(&j));

	n = file_rec(buf, VG_FILE_TIMES, "/etc", "f", NULL);
	e->open_flags = VG_TIMES_MTIME;
	e->atime_ns = 123; /* not given: not reported */
	e->mtime_ns = -1000000000;
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	vg_file_fields(&j, s.events[2]->file);
	cr_expect_not_null(strstr(vg_sb_str(&j), "\"ModificationTimeNs\":-1000000000"), "%s",
			   vg_sb_str(&j));
	cr_expect_null(strstr(vg_sb_str(&j), "AccessTime"), "%s", vg_sb_str(&j));
	vg_sb_free(&j);
}

/* An exec's loader variables: NUL-terminated or refused; only the two names, the last of each. */
Test(sensor, loader_environment_of_an_exec, .init = setup, .fini = teardown)
{
	static const char env[] = "LD_PRELOAD=/a.so\0ParentId=7\0LD_PRELOAD=/b\"c.so";
	char buf[1024];
	struct vg_exec_event *e = (void *)buf;
	const char *js;
	struct vg_sb j;
	size_t n;

	n = exec_rec(buf, 60, 1, 0, "/bin/x", "x\0", 2, "/");
	memcpy(buf + n, env, sizeof(env));
	e->env_len = sizeof(env);
	e->hdr.size = (uint32_t)(n + sizeof(env));
	buf[n + sizeof(env) - 1] = 'x'; /* the last one not NUL-terminated */
	cr_assert_eq(vg_sensor_record(&s, buf, e->hdr.size), -EBADMSG);
	buf[n + sizeof(env) - 1] = '\0';
	e->env_len = sizeof(env) + 1; /* past the record */
	cr_assert_eq(vg_sensor_record(&s, buf, e->hdr.size), -EBADMSG);
	e->env_len = sizeof(env);
	cr_assert_eq(vg_sensor_record(&s, buf, e->hdr.size), 0);
	cr_assert_eq(s.events[0]->process->n_loader_env, 3);

	vg_sb_init(&j);
	vg_process_fields(&j, s.events[0]->process);
	js = vg_sb_str(&j);
	cr_expect_not_null(strstr(js, "\"LD_PRELOAD\":\"/b\\\"c.so\""), "%s", js);
	cr_expect_null(strstr(js, "/a.so"), "%s", js);
	cr_expect_null(strstr(js, "\"ParentId\":\"7\""), "%s", js);
	vg_sb_free(&j);
}

/* A DNS query record with the question q (n bytes, a NUL added), in buf; its size. */
static size_t dns_rec(char *buf, const void *q, size_t n)
{
	struct vg_net_event *e = (void *)buf;

	memset(e, 0, sizeof(*e));
	task(&e->task, 70, 1, 0, "resolver");
	e->hdr.type = VG_EV_NET;
	e->hdr.ts_boot_ns = 7000;
	e->op = VG_NET_DNS_QUERY;
	e->proto = 17;
	e->family = AF_INET;
	e->rport = 53;
	e->raddr[0] = 127;
	e->raddr[3] = 1;
	memcpy(buf + sizeof(*e), q, n);
	buf[sizeof(*e) + n] = '\0';
	e->dns_len = (uint16_t)(n + 1);
	e->hdr.size = (uint32_t)(sizeof(*e) + n + 1);
	return e->hdr.size;
}

/* The question as resolvers send it is decoded; a compression pointer, a long label are refused. */
Test(sensor, dns_question_is_decoded_or_refused, .init = setup, .fini = teardown)
{
	char buf[1024], long_label[80] = { 70 };
	struct vg_sb j;
	size_t n;

	memset(long_label + 1, 'a', 70);
	n = dns_rec(buf,
		    "\x02vg\x07"
		    "example\0\0\x1c\0\x01",
		    16);
	cr_assert_eq(vg_sensor_record(&s, buf, n), 0);
	vg_sb_init(&j);
	vg_store_details_json(&j, s.events[0]->security);
	cr_expect_str_eq(vg_sb_str(&j), "{\"DnsQueryString\":\"vg.example\",\"RemoteIP\":"
					"\"127.0.0.1\",\"RemotePort\":53,\"QueryType\":28}");
	vg_sb_free(&j);
	n = dns_rec(buf, "\x02vg\xc0\x0c", 5);
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = dns_rec(buf, long_label, 72);
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	n = dns_rec(buf, "\x05vg", 3); /* a label past the end */
	cr_assert_eq(vg_sensor_record(&s, buf, n), -EBADMSG);
	cr_assert_eq(s.lost, 3);
}
