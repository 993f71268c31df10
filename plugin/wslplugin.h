/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The WSL plug-in API, version 1, as the issue "The host plug-in" states
 * its public facts: WSL loads a signed DLL registered under
 * HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Lxss\Plugins and calls its
 * exported WSLPluginAPIV1_EntryPoint(api, hooks). Declarations of our own,
 * written from those facts; the layout follows the order the facts give.
 */
#ifndef VG_WSLPLUGIN_H
#define VG_WSLPLUGIN_H

#include <winsock2.h>
#include <windows.h>

/* MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x032A) */
#define WSL_E_PLUGIN_REQUIRES_UPDATE ((HRESULT)0x8004032AL)

typedef DWORD WSLSessionId;

struct WSLSessionInformation {
	WSLSessionId SessionId;
	HANDLE UserToken;
	PSID UserSid;
};

/* WSLVmCreationSettings.CustomConfigurationFlags */
enum WSLUserConfiguration {
	WSLUserConfigurationNone = 0,
	WSLUserConfigurationCustomKernel = 1,
	WSLUserConfigurationCustomKernelCommandLine = 2,
};

struct WSLVmCreationSettings {
	DWORD CustomConfigurationFlags; /* enum WSLUserConfiguration bits */
};

struct WSLDistributionInformation {
	GUID Id;
	LPCWSTR Name;
	UINT64 PidNamespace;
	LPCWSTR PackageFamilyName; /* NULL when not installed from a package */
	UINT32 InitPid;
	LPCWSTR Flavor; /* e.g. "debian" */
	LPCWSTR Version; /* e.g. "12" */
};

struct WSLVersion {
	UINT32 Major;
	UINT32 Minor;
	UINT32 Revision;
};

typedef HRESULT (*WSLPluginAPI_MountFolder)(WSLSessionId session, LPCWSTR windows_path,
					    LPCWSTR linux_path, BOOL read_only, LPCWSTR name);
/*
 * Start a Linux process in the VM's root namespace; *out is a socket that
 * is its stdin and stdout (stderr goes to the VM's kernel log). argv ends
 * with NULL.
 */
typedef HRESULT (*WSLPluginAPI_ExecuteBinary)(WSLSessionId session, LPCSTR path, LPCSTR *argv,
					      SOCKET *out);
/* Only valid during OnVMStarted or OnDistributionStarted: shown to the user, start fails. */
typedef HRESULT (*WSLPluginAPI_PluginError)(LPCWSTR message);

struct WSLPluginAPIV1 {
	struct WSLVersion Version;
	WSLPluginAPI_MountFolder MountFolder;
	WSLPluginAPI_ExecuteBinary ExecuteBinary;
	WSLPluginAPI_PluginError PluginError;
};

typedef HRESULT (*WSLPluginAPI_OnVMStarted)(const struct WSLSessionInformation *session,
					    const struct WSLVmCreationSettings *settings);
typedef HRESULT (*WSLPluginAPI_OnVMStopping)(const struct WSLSessionInformation *session);
typedef HRESULT (*WSLPluginAPI_OnDistributionStarted)(
	const struct WSLSessionInformation *session,
	const struct WSLDistributionInformation *distribution);
typedef HRESULT (*WSLPluginAPI_OnDistributionStopping)(
	const struct WSLSessionInformation *session,
	const struct WSLDistributionInformation *distribution);
typedef HRESULT (*WSLPluginAPI_OnDistributionRegistered)(
	const struct WSLSessionInformation *session,
	const struct WSLDistributionInformation *distribution);
typedef HRESULT (*WSLPluginAPI_OnDistributionUnregistered)(
	const struct WSLSessionInformation *session,
	const struct WSLDistributionInformation *distribution);

struct WSLPluginHooksV1 {
	WSLPluginAPI_OnVMStarted OnVMStarted;
	WSLPluginAPI_OnVMStopping OnVMStopping;
	WSLPluginAPI_OnDistributionStarted OnDistributionStarted;
	WSLPluginAPI_OnDistributionStopping OnDistributionStopping;
	WSLPluginAPI_OnDistributionRegistered OnDistributionRegistered;
	WSLPluginAPI_OnDistributionUnregistered OnDistributionUnregistered;
};

typedef HRESULT (*WSLPluginAPI_EntryPointV1)(const struct WSLPluginAPIV1 *api,
					     struct WSLPluginHooksV1 *hooks);

#endif
