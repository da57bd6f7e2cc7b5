/*
 * barrier.c: delivery confirmation on core NATS.
 *
 * Core NATS does not acknowledge publications, and cnats may drop what it
 * buffered during a disconnection. A barrier confirms them: a marker (an
 * 8-byte token) batchd publishes to a subject only its own connection
 * reads (bus_echo()). NATS keeps a connection's messages in order, so when
 * the marker comes back the server has taken everything published before
 * it.
 *
 * The publishers that need confirming (the outbox's status events,
 * outbox.c; the log streams, logs.c) each register a struct barrier_user
 * and hear from the barrier only through its callbacks; barrier.c names
 * none of them, and they do not call each other. One kick per loop turn
 * (barrier_kick(), after a commit or a publication): each user publishes
 * what waits (flush); then, unless a barrier is out (at most one is), if
 * some user published what no barrier confirmed yet (due), each notes what
 * this one will confirm (sent) and the marker leaves. When it comes back,
 * each takes what it noted as delivered (done).
 *
 * The confirmation is lost when the connection is new (bus.c's
 * connected), when the barrier is not back in 5 s, and when a publication
 * failed while it was out (then everything goes again a second after it
 * is back): each user publishes again from what was confirmed (resend);
 * subscribers drop duplicates by the event's per-run seq or the chunk's
 * offset.
 *
 * Loop thread only.
 */
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

#define BARRIER_MS	5000
#define MAX_USERS	4

static const struct barrier_user	*users[MAX_USERS];
static size_t		 nusers;
static uint64_t		 token;		/* the barrier out, or 0 */
static uint64_t		 seq;		/* the last token */
static int		 lost;		/* a publication failed: confirm none */
static struct event	*kick_ev, *timeout_ev, *again_ev;

/* Publish what waits, then a barrier; at most one barrier is out. */
static void
kick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { BARRIER_MS / 1000, 0 };
	uint8_t		 p[8];
	uint64_t	 tok;
	size_t		 i;
	int		 due = 0;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < nusers; i++)
		if (users[i]->flush != NULL)
			users[i]->flush(users[i]->arg);
	if (token != 0 || !bus_ready() || barrier_retrying())
		return;
	for (i = 0; i < nusers && !due; i++)
		due = users[i]->due(users[i]->arg);
	if (!due)
		return;
	for (i = 0; i < nusers; i++)
		users[i]->sent(users[i]->arg);
	token = ++seq;
	for (i = 8, tok = token; i-- > 0; tok >>= 8)
		p[i] = tok & 0xff;
	bus_echo(p, sizeof p);
	evtimer_add(timeout_ev, &tv);
}

/* bus.c: a message came back on our own subject: a barrier? */
static void
on_echo(const void *data, size_t len, void *arg)
{
	static const struct timeval	 tv = { 1, 0 };
	const uint8_t			*p = data;
	uint64_t			 tok = 0;
	size_t				 i;

	(void)arg;
	if (len != 8)
		return;
	for (i = 0; i < 8; i++)
		tok = (tok << 8) | p[i];
	if (tok != token || token == 0)
		return;
	token = 0;
	evtimer_del(timeout_ev);
	if (lost) {
		/* Not all of it: publish again from what was confirmed. */
		lost = 0;
		log_warnx("barrier: a publication failed; publishing again");
		evtimer_add(again_ev, &tv);
		return;
	}
	for (i = 0; i < nusers; i++)
		users[i]->done(users[i]->arg);
	barrier_kick();
}

/*
 * bus.c: cnats refused a publication (the connection is not gone, or a
 * reconnection would resend it): the barrier out may not confirm it.
 */
static void
on_failed(void *arg)
{
	(void)arg;
	lost = 1;
}

static void
on_connected(void *arg)
{
	(void)arg;
	barrier_resend();
}

static void
on_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	barrier_resend();
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("barrier: not back in %d ms; publishing again", BARRIER_MS);
	barrier_resend();
}

static const struct bus_watcher	watcher = {
	.connected = on_connected,
	.failed = on_failed,
	.echo = on_echo,
};

/* Before bus_start(): the barrier's events, and what it hears from bus.c. */
void
barrier_init(void)
{
	kick_ev = event_new(base, -1, 0, kick, NULL);
	event_priority_set(kick_ev, 2);
	timeout_ev = evtimer_new(base, on_timeout, NULL);
	again_ev = evtimer_new(base, on_again, NULL);
	bus_watch(&watcher);
}

/* u (kept, not copied) publishes what barriers confirm. */
void
barrier_add(const struct barrier_user *u)
{
	if (nusers == MAX_USERS)
		fatalx("barrier_add: more than %d users", MAX_USERS);
	users[nusers++] = u;
}

/* After a commit or a publication: flush and confirm (once per turn). */
void
barrier_kick(void)
{
	if (kick_ev != NULL)
		event_active(kick_ev, 0, 0);
}

/* Is a barrier out? (Core NATS: the outbox sends one batch per barrier.) */
int
barrier_out(void)
{
	return token != 0;
}

/* Is everything to be published again shortly (a publication failed)? */
int
barrier_retrying(void)
{
	return again_ev != NULL && evtimer_pending(again_ev, NULL);
}

/* Forget the barrier out: every user publishes again from what was
 * confirmed. */
void
barrier_resend(void)
{
	size_t	i;

	token = 0;
	if (timeout_ev != NULL)
		evtimer_del(timeout_ev);
	if (again_ev != NULL)
		evtimer_del(again_ev);
	lost = 0;
	for (i = 0; i < nusers; i++)
		users[i]->resend(users[i]->arg);
	barrier_kick();
}

void
barrier_free(void)
{
	if (kick_ev != NULL)
		event_free(kick_ev);
	if (timeout_ev != NULL)
		event_free(timeout_ev);
	if (again_ev != NULL)
		event_free(again_ev);
	kick_ev = timeout_ev = again_ev = NULL;
	nusers = 0;
	token = 0;
	lost = 0;
}
