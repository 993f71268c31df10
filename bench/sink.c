// SPDX-License-Identifier: GPL-2.0-only
/*
 * A host that costs nothing, for the zero-drop ceiling of `make bench`:
 * runs vigild with the stdio transport, reads its frames, acknowledges every
 * BATCH at once and keeps nothing, so what limits the sensor is the kernel
 * and vigild alone.
 *
 *   sink VIGILD [VIGILD ARGS...]
 *
 * On SIGINT or SIGTERM it passes SIGTERM to vigild and keeps acknowledging
 * until vigild exits (vigild waits for its last batch's ACK). At the end it
 * prints "frames N bytes B" on stderr and exits with vigild's status. A
 * frame that fails its checks ends the run (exit 1), like the host would.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"

static volatile sig_atomic_t sk_stop;

static void sk_signal(int sig)
{
	(void)sig;
	sk_stop = 1;
}

static int sk_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int to_child[2], from_child[2], status = 0, err = 0, termed = 0;
	unsigned long long frames = 0, bytes = 0;
	struct sigaction sa = { .sa_handler = sk_signal };
	struct vg_frame_reader r;
	uint8_t buf[65536];
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: sink VIGILD [VIGILD ARGS...]\n");
		return 2;
	}
	if (pipe(to_child) || pipe(from_child)) {
		perror("sink: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("sink: fork");
		return 1;
	}
	if (pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[0]);
		close(to_child[1]);
		close(from_child[0]);
		close(from_child[1]);
		execv(argv[1], argv + 1);
		fprintf(stderr, "sink: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	vg_frame_reader_init(&r);
	for (;;) {
		struct vg_frame_hdr h;
		const uint8_t *payload;
		ssize_t n;
		int got;

		if (sk_stop && !termed) {
			kill(pid, SIGTERM);
			termed = 1;
		}
		n = read(from_child[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* vigild closed its output: it is ending */
		bytes += (unsigned long long)n;
		if (vg_frame_reader_feed(&r, buf, (size_t)n)) {
			fprintf(stderr, "sink: out of memory\n");
			err = 1;
			break;
		}
		while ((got = vg_frame_reader_next(&r, &h, &payload)) == 1) {
			uint8_t ack[VG_FRAME_HDR_LEN];
			struct vg_frame_hdr a = { .type = VG_FRAME_ACK, .seq = h.seq };

			frames++;
			if (h.type != VG_FRAME_BATCH)
				continue;
			vg_frame_hdr_pack(ack, &a, NULL);
			if (sk_write_all(to_child[1], ack, sizeof(ack)))
				break; /* vigild is gone; its output tells the rest */
		}
		if (got < 0) {
			fprintf(stderr, "sink: bad frame from vigild after %llu bytes: %s\n", bytes,
				vg_frame_strerror(got));
			err = 1;
			break;
		}
	}
	vg_frame_reader_free(&r);
	close(to_child[1]);
	close(from_child[0]);
	if (err)
		kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fprintf(stderr, "sink: frames %llu bytes %llu\n", frames, bytes);
	if (err)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
