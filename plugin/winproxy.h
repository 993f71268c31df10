/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VG_WINPROXY_H
#define VG_WINPROXY_H

#include "proxy.h"

/* The sources, and the storage they point into. */
struct vg_win_proxy {
	struct vg_proxy_sources src;
	char static_server[256], legacy[256], winhttp[512], user[512];
};

void vg_win_proxy_read(struct vg_win_proxy *wp);

#endif
