/*
 * loop.c: the event base, signals and shutdown.
 *
 * Priorities: 0 signals and timers, 1 I/O and the bus (the default), 2 the
 * storage flush, so one flush commits everything a loop turn produced.
 *
 * Shutdown (SIGTERM, SIGINT): the bus stops taking commands and drains; the
 * commands already received are applied and answered; the last transaction
 * is committed; then the loop ends. A second signal, or a drain that takes
 * longer than 10 s, ends it at once.
 *
 * Also here: inotify descriptors read by the loop (struct inwatch), one per
 * module that follows files.
 */
#include <sys/inotify.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "batchd.h"

struct event_base	*base;

static struct event	*ev_term, *ev_int, *ev_hup, *ev_deadline;
static int		 stopping;

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("shutdown: bus drain did not finish in time");
	event_base_loopbreak(base);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		log_info("SIGHUP: logs go to stderr, nothing to reopen");
		return;
	}
	if (stopping) {
		log_warnx("second signal: exiting now");
		event_base_loopbreak(base);
		return;
	}
	log_info("signal=%d: shutting down", (int)sig);
	notify_send("STOPPING=1");
	loop_stop();
}

/* Create the event base; must run before any other thread exists. */
void
loop_init(void)
{
	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads failed");
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (event_base_priority_init(base, 3) == -1)
		fatalx("event_base_priority_init failed");
	signal(SIGPIPE, SIG_IGN);
	ev_term = evsignal_new(base, SIGTERM, on_signal, NULL);
	ev_int = evsignal_new(base, SIGINT, on_signal, NULL);
	ev_hup = evsignal_new(base, SIGHUP, on_signal, NULL);
	event_priority_set(ev_term, 0);
	event_priority_set(ev_int, 0);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
}

void
loop_run(void)
{
	event_base_dispatch(base);
}

/* Begin an orderly shutdown; the loop ends when the bus has drained. */
void
loop_stop(void)
{
	struct timeval	tv = { 10, 0 };

	if (stopping)
		return;
	stopping = 1;
	ev_deadline = evtimer_new(base, on_deadline, NULL);
	evtimer_add(ev_deadline, &tv);
	exec_free();
	bus_stop();
}

int
loop_stopping(void)
{
	return stopping;
}

void
loop_free(void)
{
	if (ev_deadline != NULL)
		event_free(ev_deadline);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(base);
	base = NULL;
}

/* ------------------------------------------------------------ inotify */

static void
inwatch_read(evutil_socket_t fd, short what, void *arg)
{
	struct inwatch			*w = arg;
	char				 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	ssize_t				 n;
	char				*p;

	(void)what;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (p = buf; p < buf + n; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			w->fn(ev->wd, ev->len != 0 ? ev->name : "");
		}
}

/* Watch path for mask, making w's descriptor on first use: the watch
 * descriptor, or -1 with errno. */
int
inwatch_add(struct inwatch *w, const char *path, uint32_t mask)
{
	if (w->fd == -1) {
		if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
			return -1;
		w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST,
		    inwatch_read, w);
		event_add(w->ev, NULL);
	}
	return inotify_add_watch(w->fd, path, mask);
}

void
inwatch_rm(struct inwatch *w, int wd)
{
	if (w->fd != -1 && wd != -1)
		inotify_rm_watch(w->fd, wd);
}

/* Shutdown: close w (it may be used again). */
void
inwatch_close(struct inwatch *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	w->ev = NULL;
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
}
