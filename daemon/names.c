// SPDX-License-Identifier: GPL-2.0-only
#include <string.h>

#include "names.h"
#include "vigil_abi.h"

const char *vg_hook_name(enum vg_hook h)
{
	switch (h) {
	case VG_HOOK_TP_BTF:
		return "tp_btf";
	case VG_HOOK_RAW_TP:
		return "raw_tp";
	case VG_HOOK_NONE:
		return "none";
	case VG_HOOK_FENTRY:
		return "fentry";
	case VG_HOOK_TP:
		return "tp";
	default:
		return "auto";
	}
}

static const char *const vg_class_names[VG_CLASS_MAX] = {
	[VG_CLASS_EXEC] = "exec", [VG_CLASS_FORK] = "fork",   [VG_CLASS_EXIT] = "exit",
	[VG_CLASS_FILE] = "file", [VG_CLASS_NET] = "network", [VG_CLASS_SEC] = "security",
};

const char *vg_class_name(int cls)
{
	return cls >= 0 && cls < VG_CLASS_MAX ? vg_class_names[cls] : "?";
}

static const char *const vg_source_names[VG_SRC_MAX] = {
	[VG_SRC_EXEC] = "exec", [VG_SRC_FORK] = "fork",	  [VG_SRC_EXIT] = "exit",
	[VG_SRC_FILE] = "file", [VG_SRC_NET] = "network", [VG_SRC_SEC] = "security",
};

const char *vg_source_name(int src)
{
	return src >= 0 && src < VG_SRC_MAX ? vg_source_names[src] : "?";
}

static const char *const vg_group_names[VG_GRP_MAX] = {
	[VG_GRP_EXEC] = "sched_process_exec", [VG_GRP_FORK] = "sched_process_fork",
	[VG_GRP_EXIT] = "sched_process_exit", [VG_GRP_SYSX] = "sys_exit",
	[VG_GRP_TCP] = "inet_sock_set_state",
};

const char *vg_group_name(int grp)
{
	return grp >= 0 && grp < VG_GRP_MAX ? vg_group_names[grp] : "?";
}

static const char *const vg_ring_names[VG_RING_MAX] = {
	[VG_RING_PROC] = "process",
	[VG_RING_FILE] = "file",
	[VG_RING_NET] = "network",
};

const char *vg_ring_name(int ring)
{
	return ring >= 0 && ring < VG_RING_MAX ? vg_ring_names[ring] : "?";
}

static int vg_find(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

int vg_source_find(const char *name)
{
	return vg_find(vg_source_names, VG_SRC_MAX, name);
}

int vg_group_find(const char *name)
{
	return vg_find(vg_group_names, VG_GRP_MAX, name);
}
