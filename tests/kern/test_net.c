// SPDX-License-Identifier: GPL-2.0-only
/* Network events: real sockets on loopback, rows checked field by field. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;

static void setup(void)
{
	vg_t_host_start(&host, NULL);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
}

struct ep {
	int family;
	struct sockaddr_storage ss;
	socklen_t len;
	char ip[64];
};

static void ep_init(struct ep *e, int family, int port)
{
	memset(e, 0, sizeof(*e));
	e->family = family;
	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)&e->ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		e->len = sizeof(*in);
		strcpy(e->ip, "127.0.0.1");
	} else {
		struct sockaddr_in6 *in6 = (void *)&e->ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		in6->sin6_addr = in6addr_loopback;
		e->len = sizeof(*in6);
		strcpy(e->ip, "::1");
	}
}

static int ep_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	cr_assert_eq(getsockname(fd, (void *)&ss, &len), 0);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
					       ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static long long net_rows(const char *action, const char *proto, const char *rip, int rport,
			  int lport)
{
	return vg_t_wait_int(&host, 1, 5000,
			     "SELECT count(*) FROM DeviceNetworkEvents WHERE ActionType = '%s' AND "
			     "Protocol = '%s' AND RemoteIP = '%s' AND (%d < 0 OR RemotePort = %d) "
			     "AND (%d < 0 OR LocalPort = %d) AND InitiatingProcessId = %d",
			     action, proto, rip, rport, rport, lport, lport, getpid());
}

static void tcp_round_trip(int family)
{
	struct ep e;
	int l, c, a, port, cport;

	ep_init(&e, family, 0);
	l = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (void *)&e.ss, e.len), 0);
	cr_assert_eq(listen(l, 4), 0);
	port = ep_port(l);
	cr_assert_eq(vg_t_wait_int(&host, 1, 5000,
				   "SELECT count(*) FROM DeviceNetworkEvents WHERE ActionType = "
				   "'ListeningConnectionCreated' AND LocalPort = %d AND "
				   "InitiatingProcessId = %d",
				   port, getpid()),
		     1, "listen");

	ep_init(&e, family, port);
	c = socket(family, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (void *)&e.ss, e.len), 0);
	cport = ep_port(c);
	a = accept(l, NULL, NULL);
	cr_assert_geq(a, 0);
	/* The SYN_SENT transition comes before the kernel picks the local port. */
	cr_assert_eq(net_rows("ConnectionAttempt", "Tcp", e.ip, port, 0), 1);
	cr_assert_eq(net_rows("ConnectionSuccess", "Tcp", e.ip, port, cport), 1);
	cr_assert_eq(net_rows("InboundConnectionAccepted", "Tcp", e.ip, cport, port), 1);
	close(a);
	close(c);
	close(l);
}

Test(net, tcp_ipv4_listen_connect_accept, .init = setup, .fini = teardown, .timeout = 60)
{
	tcp_round_trip(AF_INET);
}

Test(net, tcp_ipv6_listen_connect_accept, .init = setup, .fini = teardown, .timeout = 60)
{
	tcp_round_trip(AF_INET6);
}

Test(net, tcp_refused, .init = setup, .fini = teardown, .timeout = 60)
{
	struct ep e;
	int s, port;

	/* A port nobody listens on: bind one, note it, close it. */
	ep_init(&e, AF_INET, 0);
	s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(s, (void *)&e.ss, e.len), 0);
	port = ep_port(s);
	close(s);
	ep_init(&e, AF_INET, port);
	s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_neq(connect(s, (void *)&e.ss, e.len), 0, "connect to a closed port succeeded");
	close(s);
	cr_assert_eq(net_rows("ConnectionAttempt", "Tcp", "127.0.0.1", port, -1), 1);
	cr_assert_eq(net_rows("ConnectionFailed", "Tcp", "127.0.0.1", port, -1), 1);
}

/* UDP: a connect, and the first datagram per destination (repeats are counted as dedup). */
Test(net, udp_connect_and_first_datagram, .init = setup, .fini = teardown, .timeout = 60)
{
	struct ep e;
	int r, s, port;
	sqlite3 *db;

	ep_init(&e, AF_INET, 0);
	r = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(bind(r, (void *)&e.ss, e.len), 0);
	port = ep_port(r);
	ep_init(&e, AF_INET, port);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sendto(s, "x", 1, 0, (void *)&e.ss, e.len), 1);
	cr_assert_eq(net_rows("ConnectionAttempt", "Udp", "127.0.0.1", port, -1), 1);
	close(s);

	s = socket(AF_INET6, SOCK_DGRAM, 0);
	ep_init(&e, AF_INET6, 5353);
	cr_assert_eq(connect(s, (void *)&e.ss, e.len), 0);
	cr_assert_eq(net_rows("ConnectionAttempt", "Udp", "::1", 5353, -1), 1);
	close(s);
	close(r);

	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(
		vg_t_query_int(db,
			       "SELECT count(*) FROM DeviceNetworkEvents WHERE Protocol = 'Udp' "
			       "AND RemotePort = %d",
			       port),
		1, "one event for five datagrams to one destination");
	cr_assert_geq(vg_t_query_int(db, "SELECT Deduplicated FROM SensorCounters WHERE "
					 "EventClass = 'network'"),
		      4, "the four repeats are not counted as deduplicated");
	cr_assert_eq(vg_t_query_int(db, "SELECT count(*) FROM SensorCounters WHERE Seen != "
					"Emitted + Filtered + Deduplicated + RateLimited + "
					"RingbufFull"),
		     0);
	sqlite3_close(db);
}
