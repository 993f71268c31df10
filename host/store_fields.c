// SPDX-License-Identifier: GPL-2.0-only
/*
 * AdditionalFields: the JSON object of what an event has no column for,
 * written here for every table from the fields the sensor sends (the sensor
 * never writes JSON), so one file says what each event's object holds.
 */
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

static void vg_json_num(struct vg_sb *j, const char *key, uint64_t v)
{
	char buf[24], *o = buf + sizeof(buf);

	/* By hand, not vg_sb_printf(): several a stored event. */
	*--o = '\0';
	do
		*--o = (char)('0' + v % 10);
	while (v /= 10);
	*--o = ':';
	vg_sb_add(j, j->len > 1 ? "," : "");
	vg_json_str(j, key);
	vg_sb_add(j, o);
}

/* Interpreters whose first operand is a script file: shells, and the usual script languages. */
static int vg_interpreter(const char *exe, int *shell)
{
	static const char *const shells[] = { "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash" };
	static const char *const langs[] = { "python", "perl", "ruby", "php", "node", "lua" };
	const char *base = exe ? strrchr(exe, '/') : NULL;

	base = base ? base + 1 : exe;
	if (!base)
		return 0;
	for (size_t i = 0; i < sizeof(shells) / sizeof(*shells); i++)
		if (!strcmp(base, shells[i]))
			return *shell = 1;
	*shell = 0;
	/* python3, python3.11, perl5.36: the name, then digits and dots */
	for (size_t i = 0; i < sizeof(langs) / sizeof(*langs); i++) {
		size_t n = strlen(langs[i]);

		if (!strncmp(base, langs[i], n) &&
		    strspn(base + n, "0123456789.") == strlen(base + n))
			return 1;
	}
	return 0;
}

/*
 * The script an interpreter runs: its first operand after the options
 * (sh x.sh, and ./x.sh with #!, which the kernel runs as "sh ./x.sh"), made
 * absolute with the working directory. NULL for -c/-e/-m code, stdin or no
 * operand. The options that take an argument are skipped with it.
 */
static const char *vg_script_operand(const Vigil__V1__Process *p)
{
	int shell;

	if (!vg_interpreter(p->exe, &shell))
		return NULL;
	for (size_t i = 1; i < p->n_argv; i++) {
		const char *a = p->argv[i];

		if (!strcmp(a, "--")) {
			a = i + 1 < p->n_argv ? p->argv[i + 1] : NULL;
			return a && strcmp(a, "-") ? a : NULL;
		}
		if (a[0] != '-' && !(shell && a[0] == '+'))
			return *a ? a : NULL;
		if (!strcmp(a, "-"))
			return NULL; /* the script comes on stdin */
		/* inline code: shell -c, perl/ruby/node -e/-E, python -c/-m, php -r */
		if (a[1] != '-' &&
		    (shell ? strchr(a + 1, 'c') != NULL : strchr("ceEmr", a[1]) != NULL))
			return NULL;
		if (!strcmp(a, "-o") || !strcmp(a, "+o") || !strcmp(a, "-O") || !strcmp(a, "+O") ||
		    (!shell && (!strcmp(a, "-W") || !strcmp(a, "-X") || !strcmp(a, "-I"))))
			i++;
	}
	return NULL;
}

void vg_process_fields(struct vg_sb *j, const Vigil__V1__ProcessEvent *pe)
{
	const Vigil__V1__Process *p = pe->process;

	vg_sb_reset(j);
	vg_sb_add(j, "{");
	if (p->comm && *p->comm)
		vg_json_kv(j, "Comm", p->comm);
	if (p->cgroup_id)
		vg_json_num(j, "CgroupId", p->cgroup_id);
	if (p->exe_inode)
		vg_json_num(j, "ExeInode", p->exe_inode);
	if (p->exe_dev)
		vg_json_num(j, "ExeDev", p->exe_dev);
	vg_json_num(j, "Gid", p->gid);
	vg_json_num(j, "Euid", p->euid);
	vg_json_num(j, "Egid", p->egid);
	if (p->argv_truncated)
		vg_sb_add(j, ",\"ArgvTruncated\":true");
	if (p->stdin_socket)
		vg_sb_add(j, ",\"StdinSocket\":true");
	if (p->stdout_socket)
		vg_sb_add(j, ",\"StdoutSocket\":true");
	if (pe->action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED) {
		if (pe->exit_signal)
			vg_json_num(j, "ExitSignal", (uint32_t)pe->exit_signal);
		if (pe->core_dumped)
			vg_sb_add(j, ",\"CoreDumped\":true");
	}
	vg_json_num(j, "ParentId", p->ppid);
	/*
	 * LD_PRELOAD, LD_LIBRARY_PATH of an exec, under their own names,
	 * nothing else; the last of each, the one ld.so uses.
	 */
	for (size_t k = 0; k < 2; k++) {
		static const char *const names[] = { "LD_PRELOAD", "LD_LIBRARY_PATH" };
		size_t n = strlen(names[k]);
		const char *last = NULL;

		for (size_t i = 0; i < pe->n_loader_env; i++) {
			const char *v = pe->loader_env[i];

			if (v && !strncmp(v, names[k], n) && v[n] == '=')
				last = v + n + 1;
		}
		if (last)
			vg_json_kv(j, names[k], last);
	}
	if (pe->shell_fallback)
		vg_sb_add(j, ",\"ShellFallback\":true");
	if (pe->action == VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED) {
		const char *script = vg_script_operand(p);

		if (script) {
			struct vg_sb path;

			vg_sb_init(&path);
			while (script[0] == '.' && script[1] == '/')
				script += 2;
			if (script[0] != '/' && p->cwd && *p->cwd)
				vg_sb_printf(&path, "%s%s", p->cwd,
					     p->cwd[strlen(p->cwd) - 1] == '/' ? "" : "/");
			vg_sb_add(&path, script);
			if (!vg_sb_err(&path))
				vg_json_kv(j, "ScriptPath", vg_sb_str(&path));
			vg_sb_free(&path);
		}
	}
	vg_sb_add(j, "}");
}

/* Capability names by bit (include/uapi/linux/capability.h), for setcap's sets. */
static const char *const vg_cap_names[] = {
	"cap_chown",
	"cap_dac_override",
	"cap_dac_read_search",
	"cap_fowner",
	"cap_fsetid",
	"cap_kill",
	"cap_setgid",
	"cap_setuid",
	"cap_setpcap",
	"cap_linux_immutable",
	"cap_net_bind_service",
	"cap_net_broadcast",
	"cap_net_admin",
	"cap_net_raw",
	"cap_ipc_lock",
	"cap_ipc_owner",
	"cap_sys_module",
	"cap_sys_rawio",
	"cap_sys_chroot",
	"cap_sys_ptrace",
	"cap_sys_pacct",
	"cap_sys_admin",
	"cap_sys_boot",
	"cap_sys_nice",
	"cap_sys_resource",
	"cap_sys_time",
	"cap_sys_tty_config",
	"cap_mknod",
	"cap_lease",
	"cap_audit_write",
	"cap_audit_control",
	"cap_setfcap",
	"cap_mac_override",
	"cap_mac_admin",
	"cap_syslog",
	"cap_wake_alarm",
	"cap_block_suspend",
	"cap_audit_read",
	"cap_perfmon",
	"cap_bpf",
	"cap_checkpoint_restore",
};

/* A time set on a file: ISO when it is after the epoch, else its ns as a number. */
static void vg_json_time(struct vg_sb *j, const char *key, int64_t ns)
{
	char iso[VG_ISO_LEN];

	if (ns < 0) {
		vg_sb_printf(j, "%s\"%sNs\":%lld", j->len > 1 ? "," : "", key, (long long)ns);
		return;
	}
	vg_sb_printf(j, "%s\"%s\":\"%s\"", j->len > 1 ? "," : "", key,
		     vg_iso_time(iso, (uint64_t)ns));
}

/* What the link, attribute and time events carry (docs/schema.md, DeviceFileEvents). */
static void vg_file_fields_more(struct vg_sb *j, const Vigil__V1__FileEvent *fe)
{
	if (fe->link_target && *fe->link_target)
		vg_json_kv(j, "LinkTarget", fe->link_target);
	if (fe->attribute_name && *fe->attribute_name) {
		vg_json_kv(j, "AttributeName", fe->attribute_name);
		vg_json_num(j, "AttributeSize", fe->attribute_size);
	}
	if (fe->capabilities || fe->capabilities_effective) {
		struct vg_sb caps;

		vg_sb_init(&caps);
		for (size_t b = 0; b < 64; b++) {
			if (!(fe->capabilities >> b & 1))
				continue;
			if (caps.len)
				vg_sb_add(&caps, ",");
			if (b < sizeof(vg_cap_names) / sizeof(*vg_cap_names))
				vg_sb_add(&caps, vg_cap_names[b]);
			else
				vg_sb_printf(&caps, "cap_%u", (unsigned int)b);
		}
		if (!vg_sb_err(&caps))
			vg_json_kv(j, "Capabilities", caps.len ? vg_sb_str(&caps) : "");
		vg_sb_free(&caps);
		if (fe->capabilities_effective)
			vg_sb_add(j, ",\"CapabilitiesEffective\":true");
	}
	if (!strcmp(fe->action_type, "FileAttributesChanged")) {
		vg_sb_printf(j, "%s\"FileFlags\":\"0x%x\"", j->len > 1 ? "," : "", fe->file_flags);
		if (fe->file_flags & 0x10) /* FS_IMMUTABLE_FL */
			vg_sb_add(j, ",\"Immutable\":true");
		if (fe->file_flags & 0x20) /* FS_APPEND_FL */
			vg_sb_add(j, ",\"AppendOnly\":true");
		/* before: both, true or false, when known; neither when not */
		if (fe->previous_known)
			vg_sb_printf(j, ",\"OldImmutable\":%s,\"OldAppendOnly\":%s",
				     fe->previous_file_flags & 0x10 ? "true" : "false",
				     fe->previous_file_flags & 0x20 ? "true" : "false");
	}
	if (fe->times_given & 1)
		vg_json_time(j, "AccessTime", fe->access_time_ns);
	if (fe->times_given & 2)
		vg_json_time(j, "ModificationTime", fe->modification_time_ns);
	/* the times the given ones replaced, when known */
	if (fe->previous_known && fe->times_given & 1)
		vg_json_time(j, "PreviousAccessTime", fe->previous_access_time_ns);
	if (fe->previous_known && fe->times_given & 2)
		vg_json_time(j, "PreviousModificationTime", fe->previous_modification_time_ns);
}

void vg_file_fields(struct vg_sb *j, const Vigil__V1__FileEvent *fe)
{
	vg_sb_reset(j);
	vg_sb_add(j, "{");
	if (fe->inode)
		vg_json_num(j, "Inode", fe->inode);
	if (fe->mode) {
		vg_sb_printf(j, "%s\"Mode\":\"%04o\"", j->len > 1 ? "," : "", fe->mode & 07777);
		if (!strcmp(fe->action_type, "FileModeChanged") && fe->mode & 0111)
			vg_sb_add(j, ",\"MadeExecutable\":true");
	}
	if (!strcmp(fe->action_type, "FileOwnerChanged")) {
		vg_json_num(j, "OwnerUid", fe->owner_uid);
		vg_json_num(j, "OwnerGid", fe->owner_gid);
	}
	if (fe->open_flags)
		vg_json_num(j, "OpenFlags", fe->open_flags);
	if (fe->suppressed) {
		char iso[VG_ISO_LEN];

		vg_json_num(j, "Suppressed", fe->suppressed);
		vg_sb_printf(j, ",\"SuppressedFirst\":\"%s\"",
			     vg_iso_time(iso, fe->suppressed_first_ns));
		vg_sb_printf(j, ",\"SuppressedLast\":\"%s\"",
			     vg_iso_time(iso, fe->suppressed_last_ns));
	}
	if (fe->path_from_caller)
		vg_sb_add(j, j->len > 1 ? ",\"PathFromCaller\":true" : "\"PathFromCaller\":true");
	vg_file_fields_more(j, fe);
	vg_sb_add(j, "}");
}

const char *vg_store_details_json(struct vg_sb *j, const Vigil__V1__SecurityEvent *se)
{
	vg_sb_reset(j);
	vg_sb_add(j, "{");
	for (size_t i = 0; i < se->n_details; i++) {
		const Vigil__V1__Detail *d = se->details[i];

		vg_sb_add(j, i ? "," : "");
		vg_json_str(j, d->name ? d->name : "");
		if (d->value_case == VIGIL__V1__DETAIL__VALUE_TEXT) {
			vg_sb_add(j, ":");
			vg_json_str(j, d->text ? d->text : "");
		} else {
			vg_sb_printf(j, ":%lld", (long long)d->number);
		}
	}
	vg_sb_add(j, "}");
	return vg_sb_str(j);
}

const char *vg_device_tags_json(struct vg_sb *j, const Vigil__V1__DeviceInfo *d)
{
	vg_sb_reset(j);
	vg_sb_add(j, "[");
	for (size_t i = 0; i < d->n_tags; i++) {
		if (i)
			vg_sb_add(j, ",");
		vg_json_str(j, d->tags[i]);
	}
	vg_sb_add(j, "]");
	return vg_sb_str(j);
}

/*
 * Columns added after the tables were first written (image digests and
 * sizes, the container), appended in this order by ALTER TABLE to a store
 * that lacks them, new or old, so every store has the same column order.
 */
#define VG_IMAGE_COLS(t)                                                                     \
	{ t, "InitiatingProcessSHA256", "TEXT" }, { t, "InitiatingProcessSHA1", "TEXT" },    \
		{ t, "InitiatingProcessFileSize", "INTEGER" }, { t, "ContainerId", "TEXT" }, \
	{                                                                                    \
		t, "ContainerName", "TEXT"                                                   \
	}

static const struct {
	const char *table, *column, *type;
} vg_added_cols[] = {
	{ "DeviceProcessEvents", "SHA1", "TEXT" },
	{ "DeviceProcessEvents", "FileSize", "INTEGER" },
	VG_IMAGE_COLS("DeviceProcessEvents"),
	VG_IMAGE_COLS("DeviceFileEvents"),
	VG_IMAGE_COLS("DeviceNetworkEvents"),
	VG_IMAGE_COLS("DeviceEvents"),
	/* The WSL distribution the event's process runs in (docs/schema.md). */
	{ "DeviceProcessEvents", "Distribution", "TEXT" },
	{ "DeviceFileEvents", "Distribution", "TEXT" },
	{ "DeviceNetworkEvents", "Distribution", "TEXT" },
	{ "DeviceEvents", "Distribution", "TEXT" },
	{ "SensorDaemon", "Hashed", "INTEGER" },
	{ "SensorDaemon", "HashCached", "INTEGER" },
	{ "SensorDaemon", "HashTooLarge", "INTEGER" },
	{ "SensorDaemon", "HashUnreadable", "INTEGER" },
	{ "SensorDaemon", "HashGone", "INTEGER" },
	{ "SensorDaemon", "HashQueueFull", "INTEGER" },
	{ "SensorDaemon", "HashLate", "INTEGER" },
};

int vg_store_add_columns(sqlite3 *db)
{
	char sql[256];
	int rc = SQLITE_OK;

	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(vg_added_cols) / sizeof(vg_added_cols[0]);
	     i++) {
		sqlite3_stmt *st;
		int have;

		snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s'",
			 vg_added_cols[i].table, vg_added_cols[i].column);
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return rc;
		rc = sqlite3_step(st);
		have = rc == SQLITE_ROW;
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
		if (rc != SQLITE_OK || have)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
			 vg_added_cols[i].table, vg_added_cols[i].column, vg_added_cols[i].type);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	return rc;
}

const char *vg_digest_hex(char *out, ProtobufCBinaryData d, size_t want)
{
	static const char hex[] = "0123456789abcdef";

	if (!d.len || d.len != want || want > 32)
		return NULL;
	/* By hand: snprintf() per byte was a tenth of the host's time per stored event. */
	for (size_t k = 0; k < d.len; k++) {
		out[2 * k] = hex[d.data[k] >> 4];
		out[2 * k + 1] = hex[d.data[k] & 15];
	}
	out[2 * d.len] = '\0';
	return out;
}

static int vg_process_bad_digests(const Vigil__V1__Process *p)
{
	return p && ((p->sha256.len && p->sha256.len != 32) || (p->sha1.len && p->sha1.len != 20));
}

int vg_event_bad_digests(const Vigil__V1__Event *ev)
{
	switch (ev->body_case) {
	case VIGIL__V1__EVENT__BODY_PROCESS:
		return vg_process_bad_digests(ev->process->process) ||
		       vg_process_bad_digests(ev->process->parent);
	case VIGIL__V1__EVENT__BODY_FILE:
		return vg_process_bad_digests(ev->file->process);
	case VIGIL__V1__EVENT__BODY_NETWORK:
		return vg_process_bad_digests(ev->network->process);
	case VIGIL__V1__EVENT__BODY_SECURITY:
		return vg_process_bad_digests(ev->security->process);
	default:
		return 0;
	}
}
