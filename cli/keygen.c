// SPDX-License-Identifier: GPL-2.0-only
/* vigil keygen: a new key line for a device. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cli.h"
#include "log.h"

const char vg_usage_keygen[] =
	"usage: vigil keygen DEVICE-ID\n"
	"\n"
	"Print 'DEVICE-ID KEYHEX': a new random 256-bit key for the device. Append the line\n"
	"to the host's --keys file and put it alone in the device's vigild --key file; both\n"
	"files owned by root, mode 0600.\n"
	"\n"
	"  -h, --help   show this text\n";

int vg_cmd_keygen(int argc, char **argv)
{
	struct vg_keys k = { 0 };
	uint8_t key[VG_AUTH_KEY_LEN];
	char line[VG_AUTH_ID_MAX + 2 * VG_AUTH_KEY_LEN + 2];
	unsigned bad;
	int n, err;

	if (argc == 2 && vg_cli_is_help(argv[1])) {
		fputs(vg_usage_keygen, stdout);
		return 0;
	}
	if (argc != 2)
		return vg_cli_usage("keygen", "give one DEVICE-ID");
	err = vg_random(key, sizeof(key));
	if (err)
		return vg_err(err, "keygen: random key"), 1;
	n = snprintf(line, sizeof(line), "%s ", argv[1]);
	for (size_t i = 0; i < sizeof(key) && n > 0 && (size_t)n + 2 < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", key[i]);
	/* The line must read back: the same parser as --keys. */
	if (n < 0 || (size_t)n + 1 >= sizeof(line) || vg_keys_parse(&k, line, (size_t)n, &bad))
		return vg_cli_usage("keygen",
				    "DEVICE-ID must be 1 to %d printable characters without spaces",
				    VG_AUTH_ID_MAX);
	vg_keys_free(&k);
	memset(key, 0, sizeof(key));
	puts(line);
	memset(line, 0, sizeof(line));
	return 0;
}
