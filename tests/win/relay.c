// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Linux side of the harness's ExecuteBinary(): what WSL does in the VM.
 * Listens on 127.0.0.1, prints the port, and for each connection reads the
 * harness's request (folder mounts, path, argv), maps the path through the
 * mounts and runs it with stdin and stdout on the connection; stderr stays
 * ours (WSL sends it to the VM's kernel log). Exits after `count`
 * connections, with the last child's exit status.
 *
 *   relay COUNT   prints "port N", then "exit N" per child
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define VG_MAX_ARGS 32

static int vg_read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;

	while (len + 1 < n) {
		if (read(fd, buf + len, 1) != 1)
			return -1;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return 0;
}

static int vg_serve(int c)
{
	char line[1200], path[1024] = "", mount_l[8][512], mount_u[8][1024];
	char *argv[VG_MAX_ARGS + 1];
	int nm = 0, na = 0, status;
	pid_t pid;

	for (;;) {
		if (vg_read_line(c, line, sizeof(line))) {
			fprintf(stderr, "relay: request ended early\n");
			return -1;
		}
		if (!strcmp(line, "exec"))
			break;
		if (!strncmp(line, "mount ", 6) && nm < 8) {
			if (sscanf(line + 6, "%511s %1023[^\n]", mount_l[nm], mount_u[nm]) == 2)
				nm++;
		} else if (!strncmp(line, "path ", 5)) {
			snprintf(path, sizeof(path), "%s", line + 5);
		} else if (!strncmp(line, "arg ", 4) && na < VG_MAX_ARGS) {
			argv[na++] = strdup(line + 4);
		} else {
			fprintf(stderr, "relay: bad request line: %s\n", line);
			return -1;
		}
	}
	argv[na] = NULL;
	for (int i = 0; i < nm; i++) {
		size_t l = strlen(mount_l[i]);

		if (!strncmp(path, mount_l[i], l) && path[l] == '/') {
			char mapped[2048];

			snprintf(mapped, sizeof(mapped), "%s%s", mount_u[i], path + l);
			snprintf(path, sizeof(path), "%s", mapped);
			break;
		}
	}
	fprintf(stderr, "relay: running %s\n", path);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(c, 0);
		dup2(c, 1);
		close(c);
		execv(path, argv);
		fprintf(stderr, "relay: exec %s: %m\n", path);
		_exit(127);
	}
	close(c);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int count = argc > 1 ? atoi(argv[1]) : 1, ret = 0;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl)) {
		perror("relay: listen on 127.0.0.1");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while (count-- > 0) {
		int c = accept(l, NULL, NULL);

		if (c < 0) {
			perror("relay: accept");
			return 1;
		}
		ret = vg_serve(c);
		printf("exit %d\n", ret);
		fflush(stdout);
	}
	return ret < 0 ? 1 : ret;
}
