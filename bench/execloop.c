// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fork + exec /bin/true N times, one after the other, and print the wall
 * time in ns: the exec storm workload of `make bench`.
 *   execloop N
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *args[] = { "/bin/true", NULL };
	struct timespec a, b;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("execloop: fork");
			return 1;
		}
		if (pid == 0) {
			execv(args[0], args);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "execloop: child %ld failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
