// SPDX-License-Identifier: GPL-2.0-only
/*
 * A Sigma rule brought in with `vigil rules import-sigma` and run by
 * `vigil host` on a real sensor: the workload it describes raises its alert,
 * as `vigil alerts` prints it; near misses raise none.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[4096];

TestSuite(sigma_e2e, .timeout = 120);

/* A rule written for this test, in Sigma's format: base64 decoding a staged .b64 payload. */
static const char sigma_rule[] =
	"title: Staged base64 payload decoded\n"
	"id: 5f1c9a1e-7a43-4d57-9a55-1d2f3e4a5b6c\n"
	"status: test\n"
	"description: base64 decodes a .b64 file, as a dropper unpacking its payload does.\n"
	"author: vigil tests\n"
	"date: 2026-11-30\n"
	"tags:\n"
	"    - attack.defense-evasion\n"
	"    - attack.t1140\n"
	"logsource:\n"
	"    product: linux\n"
	"    category: process_creation\n"
	"detection:\n"
	"    selection_img:\n"
	"        Image|endswith: '/base64'\n"
	"    selection_cli:\n"
	"        CommandLine|contains:\n"
	"            - ' -d '\n"
	"            - ' --decode '\n"
	"        CommandLine|endswith: '.b64'\n"
	"        CommandLine|contains|cased: '%s'\n"
	"    filter_kept:\n"
	"        CommandLine|contains: '/keep-'\n"
	"    condition: all of selection_* and not 1 of filter_*\n"
	"falsepositives:\n"
	"    - Unpacking a base64 file by hand\n"
	"level: high\n";

Test(sigma_e2e, an_imported_rule_alerts_on_its_workload_and_not_on_near_misses)
{
	const char *host_args[] = { "--rules", NULL, NULL };
	char marker[64], rules[4200], yml[4200], cmd[8192];
	FILE *f, *p;
	int found = 0;

	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	vg_t_tmpdir(dir, sizeof(dir), "vg-sigma");
	vg_t_marker(marker, sizeof(marker), "sigma");
	snprintf(rules, sizeof(rules), "%s/rules", dir);
	vg_t_sh("mkdir %s", rules);
	snprintf(yml, sizeof(yml), "%s/staged_b64.yml", dir);
	f = fopen(yml, "w");
	cr_assert_not_null(f);
	fprintf(f, sigma_rule, marker);
	fclose(f);
	vg_t_sh("%s rules import-sigma -o %s %s", vg_t_bin("VIGIL", "build/vigil"), rules, yml);
	host_args[1] = rules;
	vg_t_host_start_args(&host, host_args, NULL);
	cr_assert_eq(vg_t_wait_int(&host, 0, 0, "SELECT count(*) FROM AlertInfo"), 0);

	vg_t_sh("echo aGVsbG8K > %s/%s.b64 && echo aGVsbG8K > %s/keep-%s.b64 &&"
		" echo aGVsbG8K > %s/%s.txt",
		dir, marker, dir, marker, dir, marker);
	/* near misses first: once the real one's alert is in, their rows were judged */
	vg_t_sh("base64 %s/%s.b64 >/dev/null", dir, marker); /* encodes: no -d */
	vg_t_sh("base64 -d %s/%s.txt >/dev/null", dir, marker); /* not a .b64 */
	vg_t_sh("base64 -d %s/keep-%s.b64 >/dev/null", dir, marker); /* the filter */
	vg_t_sh("cat %s/%s.b64 | base64 -d >/dev/null", dir, marker); /* no file operand */
	{
		char upper[64];

		for (size_t i = 0; i <= strlen(marker); i++)
			upper[i] = (char)(marker[i] >= 'a' && marker[i] <= 'z' ? marker[i] - 32 :
										 marker[i]);
		vg_t_sh("cp %s/%s.b64 %s/%s.b64 && base64 -d %s/%s.b64 >/dev/null", dir, marker,
			dir, upper, dir, upper); /* |cased: not the marker */
	}
	vg_t_sh("base64 -d %s/%s.b64 >/dev/null", dir, marker);

	cr_assert_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) FROM AlertInfo WHERE RuleId = 'staged_b64'"),
		     1, "no alert (log %s)", host.log);
	cr_expect_eq(vg_t_wait_int(&host, 1, 0,
				   "SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING"
				   " (AlertId) WHERE a.RuleId = 'staged_b64'"),
		     1, "near misses became evidence");
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 0,
			      "SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING"
			      " (AlertId) WHERE a.RuleId = 'staged_b64' AND a.Severity = 'High'"
			      " AND a.Category = 'DefenseEvasion' AND a.AttackTechniques LIKE"
			      " '%%T1140%%' AND e.ProcessCommandLine = 'base64 -d %s/%s.b64'",
			      dir, marker),
		1, "the evidence is not the decode");

	snprintf(cmd, sizeof(cmd), "%s alerts --db %s 2>&1", vg_t_bin("VIGIL", "build/vigil"),
		 host.db);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(cmd, sizeof(cmd), p))
		found |= strstr(cmd, "Staged base64 payload decoded") != NULL;
	cr_expect_eq(pclose(p), 0);
	cr_expect(found, "vigil alerts does not print the imported rule's alert");

	vg_t_host_stop(&host, SIGTERM);
	vg_t_rmrf(dir);
}
