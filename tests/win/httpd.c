// SPDX-License-Identifier: GPL-2.0-only
/*
 * A stand-in telemetry backend for the connectivity test: listens on
 * 127.0.0.1, prints "port N", answers each request with 200 and logs its
 * request line on stderr; exits after COUNT requests or SECONDS.
 *   httpd COUNT SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nvigil-ok\n";
	int count = argc > 1 ? atoi(argv[1]) : 1, l = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t sl = sizeof(sa);

	alarm(argc > 2 ? (unsigned)atoi(argv[2]) : 60);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl)) {
		perror("httpd: listen on 127.0.0.1");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while (count-- > 0) {
		char req[2048];
		size_t len = 0;
		ssize_t n;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			return 1;
		/* Read the whole request head: a proxy may send it in pieces. */
		while (len < sizeof(req) - 1) {
			n = read(c, req + len, sizeof(req) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[len] = '\0';
		req[strcspn(req, "\r\n")] = '\0';
		fprintf(stderr, "httpd: %s\n", req);
		if (write(c, ok, sizeof(ok) - 1) < 0)
			perror("httpd: write");
		close(c);
	}
	return 0;
}
