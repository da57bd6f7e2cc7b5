/*
 * later.c: ops submitted again after a delay. A retry delay, a shim being
 * looked at again, or an internal op whose commit failed (tried again after
 * a second) waits on a one-shot timer of the loop, then goes to
 * store_submit() like any op. Loop thread only; the list of those waiting
 * lets shutdown free them (later_free()).
 */
#include <sys/queue.h>

#include <stdlib.h>

#include <event2/event.h>

#include "batchd.h"

struct later {
	struct op		*op;
	struct event		*ev;
	LIST_ENTRY(later)	 entry;
};
static LIST_HEAD(, later) laters = LIST_HEAD_INITIALIZER(laters);

/* The delay is over: submit the op. */
static void
later_fire(evutil_socket_t fd, short what, void *arg)
{
	struct later	*l = arg;

	(void)fd;
	(void)what;
	LIST_REMOVE(l, entry);
	event_free(l->ev);
	store_submit(l->op);
	free(l);
}

/* Submit op in ms milliseconds (0 if negative); the timer owns it till then. */
void
later_submit(struct op *op, int64_t ms)
{
	struct later	*l;
	struct timeval	 tv;

	if (ms < 0)
		ms = 0;
	l = xcalloc(1, sizeof *l);
	l->op = op;
	l->ev = evtimer_new(base, later_fire, l);
	/* From now, not from the start of the turn (libevent's cached
	 * time): a retry's delay is counted from its commit. */
	event_base_update_cache_time(base);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(l->ev, &tv);
	LIST_INSERT_HEAD(&laters, l, entry);
}

/* An op whose commit failed: submit it again after a second. */
void
later_retry(struct op *op)
{
	later_submit(op, 1000);
}

/* Shutdown: drop every op still waiting on a timer. */
void
later_free(void)
{
	struct later	*l;

	while ((l = LIST_FIRST(&laters)) != NULL) {
		LIST_REMOVE(l, entry);
		event_free(l->ev);
		l->op->free(l->op);
		free(l);
	}
}
