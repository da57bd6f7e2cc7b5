/*
 * notify.c: the systemd notification protocol, without libsystemd: datagrams
 * to $NOTIFY_SOCKET. READY=1 once storage is open and the first NATS connect
 * was tried, STATUS= with queue depths, STOPPING=1 on shutdown, and
 * WATCHDOG=1 from a timer of the loop, so a stuck loop stops feeding it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"

static int		 sock = -1;
static struct sockaddr_un sun;
static socklen_t	 sunlen;
static struct event	*watchdog_ev;

/* Send one notification; a no-op outside systemd. */
void
notify_send(const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;
	int	n;

	if (sock == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)sendto(sock, msg, (size_t)n, MSG_NOSIGNAL,
		    (struct sockaddr *)&sun, sunlen);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_totals	t;

	(void)fd;
	(void)what;
	(void)arg;
	run_totals(&t);
	notify_send("WATCHDOG=1\nSTATUS=%llu runs queued on %llu clusters, "
	    "%llu running; nats %s", (unsigned long long)t.queued,
	    (unsigned long long)t.clusters, (unsigned long long)t.active,
	    bus_connected() ? "connected" : "disconnected");
}

void
notify_init(void)
{
	const char	*path = getenv("NOTIFY_SOCKET"), *wd;
	struct timeval	 tv;
	uint64_t	 usec;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path)
		return;
	if ((sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		return;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	sunlen = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if ((wd = getenv("WATCHDOG_USEC")) != NULL &&
	    (usec = strtoull(wd, NULL, 10)) > 0) {
		usec /= 2;
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
		watchdog_ev = event_new(base, -1, EV_PERSIST, on_watchdog,
		    NULL);
		event_add(watchdog_ev, &tv);
	}
}

void
notify_free(void)
{
	if (watchdog_ev != NULL)
		event_free(watchdog_ev);
	watchdog_ev = NULL;
	if (sock != -1)
		close(sock);
	sock = -1;
}
