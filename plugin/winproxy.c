// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Windows proxy sources: TelemetryProxyServer (the plug-in's key, else
 * the host EDR's policy key), WinHTTP, Network & Internet.
 */
#include <string.h>
#include <winsock2.h>
#include <windows.h>
#include <winhttp.h>

#include "winconf.h"
#include "winproxy.h"

void vg_win_proxy_read(struct vg_win_proxy *wp)
{
	WINHTTP_CURRENT_USER_IE_PROXY_CONFIG ie = { 0 };
	WINHTTP_PROXY_INFO info = { 0 };
	WCHAR w[512];
	DWORD len = sizeof(w);

	memset(wp, 0, sizeof(*wp));
	/* The plug-in's own key overrides the host EDR's static proxy policy. */
	if (!vg_win_reg_str(L"TelemetryProxyServer", wp->static_server,
			    sizeof(wp->static_server))) {
		wp->src.static_server = wp->static_server;
		wp->src.static_source = VG_PROXY_SRC_STATIC_OVERRIDE;
	} else if (!RegGetValueW(HKEY_LOCAL_MACHINE, VG_REG_POLICY_KEY, L"TelemetryProxyServer",
				 RRF_RT_REG_SZ, NULL, w, &len)) {
		vg_win_utf8(w, wp->static_server, sizeof(wp->static_server));
		wp->src.static_server = wp->static_server;
	}
	if (!vg_win_reg_str(L"DefenderProxyServer", wp->legacy, sizeof(wp->legacy)))
		wp->src.legacy = wp->legacy;
	/* What `netsh winhttp set proxy` sets. */
	if (WinHttpGetDefaultProxyConfiguration(&info)) {
		if (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY && info.lpszProxy) {
			vg_win_utf8(info.lpszProxy, wp->winhttp, sizeof(wp->winhttp));
			wp->src.winhttp = wp->winhttp;
		}
		GlobalFree(info.lpszProxy);
		GlobalFree(info.lpszProxyBypass);
	}
	if (WinHttpGetIEProxyConfigForCurrentUser(&ie)) {
		if (ie.lpszProxy) {
			vg_win_utf8(ie.lpszProxy, wp->user, sizeof(wp->user));
			wp->src.user = wp->user;
		}
		GlobalFree(ie.lpszProxy);
		GlobalFree(ie.lpszProxyBypass);
		GlobalFree(ie.lpszAutoConfigUrl);
	}
}
