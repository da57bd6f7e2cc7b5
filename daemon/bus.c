/*
 * bus.c: the NATS connection, driven by our event base.
 *
 * The loop thread does the connection's I/O: the socket's read and write
 * events (our adapter below, cnats's event loop interface) call cnats to
 * read or write. The subscriptions are synchronous: what a read brought is
 * queued in cnats, and the same callback takes it (bus_poll()) and hands
 * each message to the handler bus_start() was given (api_message()). No
 * thread stands between the socket and
 * the state machine, so a command costs no thread switch.
 *
 * Replies and events are published from the loop thread. The connection
 * sends each publication at once (SendAsap; with nats_send_asap = off the
 * adapter's write event sends what a loop turn published, in one go, when
 * the loop next runs), and nothing on the loop thread ever waits on the
 * connection (no flush, no request): the loop does the connection's I/O.
 *
 * NATS down at start or later: cnats retries forever; the daemon runs on.
 * JetStream (jetstream = on) rides on this connection: jetstream.c makes
 * its streams and takes its acknowledgements; bus_publish_id() goes
 * through it once the streams exist.
 *
 * The modules above tell bus.c what they want to hear through a struct
 * bus_watcher (bus_watch()): the connection is new (publish again what was
 * not confirmed), it wrote from its buffer, a publication failed or was
 * acknowledged, a message came back on the connection's own subject
 * (bus_echo(): the barrier, barrier.c). bus.c names none of them.
 *
 * cnats gives a connection up for good when the server refuses its
 * credentials twice; batchd then drops it and connects anew, backing off
 * from 1 s to 30 s, so fixed credentials on the server are picked up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <nats/nats.h>

#include "batchd.h"
#include "jetstream.h"

/* The socket's events for cnats (natsOptions_SetEventLoop). */
struct sock_events {
	natsConnection	*nc;
	struct event	*read, *write;
};

static natsConnection	*nc;
static natsOptions	*opts;
/* The kinds of commands subscribed to: {prefix}.v1.*.{kind}.* */
static const char	*kinds[] = { "jobdef", "cluster", "run", "schedule" };
#define NKINDS	(sizeof kinds / sizeof kinds[0])
static natsSubscription	*subs[NKINDS];
static volatile int	 connected;
static int		 sub_done[NKINDS];	/* drained, or its drain failed */
static struct event	*drain_ev;	/* bus_stop(): polls the drains */
static struct event	*connected_ev;	/* (re)connected: resend */
static struct event	*closed_ev;	/* cnats gave the connection up */
static struct event	*retry_ev;
static int		 retry_s = 1;
static int		 stopping;	/* atomic: bus_stop() was called */

static bus_message_cb	 on_message;	/* bus_start()'s handler */
static uint64_t		 reconnects, disconnects;	/* atomic */
static natsSubscription	*echo_sub;	/* our own subject */
static char		 echo_subj[128];

#define MAX_WATCHERS	4
static const struct bus_watcher	*watchers[MAX_WATCHERS];
static size_t		 nwatchers;

static void	bus_poll(void);

/* Tell the watchers (see the top of the file): the connection is new. */
static void
tell_connected(void)
{
	size_t	i;

	for (i = 0; i < nwatchers; i++)
		if (watchers[i]->connected != NULL)
			watchers[i]->connected(watchers[i]->arg);
}

/* It wrote from its buffer. */
static void
tell_writable(void)
{
	size_t	i;

	for (i = 0; i < nwatchers; i++)
		if (watchers[i]->writable != NULL)
			watchers[i]->writable(watchers[i]->arg);
}

/* A publication failed. */
static void
tell_failed(void)
{
	size_t	i;

	for (i = 0; i < nwatchers; i++)
		if (watchers[i]->failed != NULL)
			watchers[i]->failed(watchers[i]->arg);
}

/* JetStream acknowledged or refused the publication of key. */
static void
tell_acked(uint64_t key, int ok)
{
	size_t	i;

	for (i = 0; i < nwatchers; i++)
		if (watchers[i]->acked != NULL)
			watchers[i]->acked(key, ok, watchers[i]->arg);
}

/* m came on our own subject. */
static void
tell_echo(natsMsg *m)
{
	size_t	i;

	for (i = 0; i < nwatchers; i++)
		if (watchers[i]->echo != NULL)
			watchers[i]->echo(natsMsg_GetData(m),
			    (size_t)natsMsg_GetDataLength(m),
			    watchers[i]->arg);
}

/*
 * Before bus_start(): w (kept, not copied) is told what happens to the
 * connection, on the loop thread.
 */
void
bus_watch(const struct bus_watcher *w)
{
	if (nwatchers == MAX_WATCHERS)
		fatalx("bus_watch: more than %d watchers", MAX_WATCHERS);
	watchers[nwatchers++] = w;
}

/*
 * Publish to a subject only this connection reads: what it publishes
 * before comes to the server first, and the message comes back to the
 * watchers' echo.
 */
void
bus_echo(const void *data, size_t len)
{
	bus_publish(echo_subj, data, len);
}

/* Loop thread: JetStream's streams exist; publish through them from now. */
static void
on_js_ready(void)
{
	tell_connected();
}

/* Loop thread: the socket is readable or writable. */
static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct sock_events	*se = arg;

	(void)fd;
	if (what & EV_READ) {
		/* May detach (free se) when the connection breaks. */
		natsConnection_ProcessReadEvent(se->nc);
		bus_poll();
	} else if (what & EV_WRITE) {
		natsConnection_ProcessWriteEvent(se->nc);
		tell_writable();
	}
}

/*
 * cnats, on connect from the loop thread and on reconnect from its own
 * thread (libevent is thread-safe here: evthread_use_pthreads()).
 */
static natsStatus
sock_attach(void **userData, void *loop, natsConnection *c, natsSock sock)
{
	struct sock_events	*se = *userData;

	if (se == NULL) {
		if ((se = calloc(1, sizeof *se)) == NULL)
			return NATS_NO_MEMORY;
		se->nc = c;
	} else {
		event_free(se->read);
		event_free(se->write);
	}
	se->read = event_new(loop, sock, EV_READ | EV_PERSIST, on_sock, se);
	se->write = event_new(loop, sock, EV_WRITE | EV_PERSIST, on_sock, se);
	*userData = se;
	if (se->read == NULL || se->write == NULL ||
	    event_add(se->read, NULL) == -1)
		return NATS_ERR;
	return NATS_OK;
}

static natsStatus
sock_read(void *userData, bool add)
{
	struct sock_events	*se = userData;

	return (add ? event_add(se->read, NULL) :
	    event_del_noblock(se->read)) == 0 ? NATS_OK : NATS_ERR;
}

/*
 * cnats has something to send (with SendAsap: a publish). The write
 * event is made active at once, not only when the socket polls
 * writable: it outranks the store's flush (priority 1 against 2), so what
 * a turn published (its replies, its events) is written as soon as that
 * turn's effects are done, in one send for the whole turn, before the
 * next turn is applied; and it is made active before the turn's late
 * effects (its spawns and kills, store.c), which run from an event of the
 * same priority activated after it.
 */
static natsStatus
sock_write(void *userData, bool add)
{
	struct sock_events	*se = userData;

	if (!add)
		return event_del_noblock(se->write) == 0 ? NATS_OK : NATS_ERR;
	if (event_add(se->write, NULL) == -1)
		return NATS_ERR;
	event_active(se->write, EV_WRITE, 1);
	return NATS_OK;
}

static natsStatus
sock_detach(void *userData)
{
	struct sock_events	*se = userData;

	if (se->read != NULL)
		event_free(se->read);
	if (se->write != NULL)
		event_free(se->write);
	free(se);
	return NATS_OK;
}

/* The server's largest payload (its INFO), 1 MiB until connected. */
static size_t		 max_payload = 1024 * 1024;

size_t
bus_max_payload(void)
{
	return max_payload;
}

/* Loop thread: (re)connected, so publish what may have been lost. */
static void
on_connected_loop(evutil_socket_t fd, short what, void *arg)
{
	int64_t	mp;

	(void)fd;
	(void)what;
	(void)arg;
	if (nc != NULL && (mp = natsConnection_GetMaxPayload(nc)) >= 4096)
		max_payload = (size_t)mp;
	if (cfg->jetstream)
		jetstream_connected();
	tell_connected();
	bus_poll();
}

/*
 * The subject a command came on, as the API reads it: with partitions, the
 * server mapped {prefix}.v1.{ws}... to {prefix}.p.{i}.v1.{ws}..., and the
 * "p.{i}." goes.
 */
static const char *
command_subject(const char *s, char *buf, size_t len)
{
	size_t		 plen = strlen(cfg->subject_prefix);
	const char	*p;

	if (cfg->partitions <= 1 || strncmp(s, cfg->subject_prefix, plen) != 0 ||
	    strncmp(s + plen, ".p.", 3) != 0 ||
	    (p = strchr(s + plen + 3, '.')) == NULL)
		return s;
	snprintf(buf, len, "%s%s", cfg->subject_prefix, p);
	return buf;
}

/* Loop thread: a message to the API, or one back on our own subject. */
static void
deliver(natsSubscription *sub, natsMsg *m)
{
	char	buf[512];

	if (sub == echo_sub)
		tell_echo(m);
	else
		on_message(command_subject(natsMsg_GetSubject(m), buf,
		    sizeof buf), natsMsg_GetReply(m), natsMsg_GetData(m),
		    (size_t)natsMsg_GetDataLength(m));
	msg_free(m);
}

/*
 * Loop thread: deliver every message the subscriptions hold. Only what is
 * pending is taken, so an empty subscription costs a lock and no error.
 */
static void
bus_poll(void)
{
	natsSubscription	*all[NKINDS + 1];
	natsMsg			*m;
	natsStatus		 s;
	size_t			 i;
	int			 n;

	memcpy(all, subs, sizeof subs);
	all[NKINDS] = echo_sub;
	for (i = 0; i < NKINDS + 1; i++) {
		if (all[i] == NULL ||
		    natsSubscription_GetPending(all[i], &n, NULL) != NATS_OK)
			continue;
		while (n > 0) {
			m = NULL;
			s = natsSubscription_NextMsg(&m, all[i], 0);
			if (s == NATS_SLOW_CONSUMER) {
				log_warnx("nats: slow consumer, messages were "
				    "dropped");
				continue;
			}
			if (s != NATS_OK)
				break;
			n--;
			deliver(all[i], m);
		}
	}
}

/* cnats threads: connection state, for logs and readiness only. */
static void
on_connected(natsConnection *c, void *arg)
{
	(void)c;
	(void)arg;
	connected = 1;
	retry_s = 1;	/* a race with the loop is harmless: a back-off */
	log_info("nats connected url=%s", cfg->nats_url);
	if (connected_ev != NULL)
		event_active(connected_ev, 0, 0);
}

static void
on_reconnected(natsConnection *c, void *arg)
{
	__atomic_add_fetch(&reconnects, 1, __ATOMIC_RELAXED);
	on_connected(c, arg);
}

static void
on_disconnected(natsConnection *c, void *arg)
{
	(void)c;
	(void)arg;
	connected = 0;
	__atomic_add_fetch(&disconnects, 1, __ATOMIC_RELAXED);
	log_warnx("nats disconnected url=%s, reconnecting", cfg->nats_url);
}

static void
on_closed(natsConnection *c, void *arg)
{
	(void)c;
	(void)arg;
	connected = 0;
	if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
		log_info("nats connection closed");
		event_base_loopbreak(base);
	} else
		event_active(closed_ev, 0, 0);
}

static void
check(natsStatus s, const char *what)
{
	if (s != NATS_OK)
		fatal_code(EXIT_BUS, "nats: %s: %s", what,
		    natsStatus_GetText(s));
}

/* Loop thread: let go of the connection and its subscriptions. */
static void
bus_drop(void)
{
	size_t	i;

	if (nc == NULL)
		return;
	natsConnection_Close(nc);
	jetstream_detach();
	for (i = 0; i < NKINDS; i++) {
		natsSubscription_Destroy(subs[i]);
		subs[i] = NULL;
	}
	natsSubscription_Destroy(echo_sub);
	echo_sub = NULL;
	natsConnection_Destroy(nc);
	nc = NULL;
	connected = 0;
}

static void	bus_connect(void);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
		bus_connect();
}

/* Try again later, backing off; the daemon goes on meanwhile. */
static void
retry_later(const char *why)
{
	struct timeval	tv = { retry_s, 0 };

	log_warnx("nats url=%s: %s; connecting again in %d s", cfg->nats_url,
	    why, retry_s);
	bus_drop();
	evtimer_add(retry_ev, &tv);
	if (retry_s < 30)
		retry_s *= 2;
}

/* Loop thread: cnats gave up (credentials refused twice). */
static void
on_closed_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	retry_later("the connection was given up (credentials refused?)");
}

/* Connect (or keep trying in the background) and subscribe. */
static void
bus_connect(void)
{
	char			 subj[512];
	natsStatus		 s;
	size_t			 i;

	s = natsConnection_Connect(&nc, opts);
	if (cfg->jetstream && (s == NATS_OK || s == NATS_NOT_YET_CONNECTED))
		jetstream_attach(nc);
	if (s == NATS_OK)
		on_connected(nc, NULL);
	else if (s == NATS_NOT_YET_CONNECTED)
		log_warnx("nats not reachable url=%s, retrying in the "
		    "background", cfg->nats_url);
	else {
		nc = NULL;
		retry_later(natsStatus_GetText(s));
		return;
	}
	for (i = 0; i < NKINDS; i++) {
		if (cfg->partitions > 1)	/* the server maps to these */
			snprintf(subj, sizeof subj, "%s.p.%u.v1.*.%s.*",
			    cfg->subject_prefix, cfg->partition, kinds[i]);
		else
			snprintf(subj, sizeof subj, "%s.v1.*.%s.*",
			    cfg->subject_prefix, kinds[i]);
		s = natsConnection_SubscribeSync(&subs[i], nc, subj);
		if (s != NATS_OK) {
			retry_later(natsStatus_GetText(s));
			return;
		}
		natsSubscription_SetPendingLimits(subs[i], -1, -1);
		log_info("subscribed subject=%s", subj);
	}
	s = natsConnection_SubscribeSync(&echo_sub, nc, echo_subj);
	if (s != NATS_OK) {
		retry_later(natsStatus_GetText(s));
		return;
	}
	if (connected)
		event_active(connected_ev, 0, 0);
}

/* Set up the client, then connect; each command goes to handle. */
void
bus_start(bus_message_cb handle)
{
	natsInbox	*ib = NULL;

	on_message = handle;
	connected_ev = event_new(base, -1, 0, on_connected_loop, NULL);
	closed_ev = event_new(base, -1, 0, on_closed_loop, NULL);
	retry_ev = evtimer_new(base, on_retry, NULL);
	jetstream_init(on_js_ready, tell_acked);
	check(natsOptions_Create(&opts), "options");
	check(natsOptions_SetName(opts, "batchd"), "name");
	check(natsOptions_SetEventLoop(opts, base, sock_attach, sock_read,
	    sock_write, sock_detach),
	    "event loop");
	check(natsOptions_SetSendAsap(opts, cfg->nats_send_asap), "send asap");
	check(natsOptions_SetMaxReconnect(opts, -1), "max reconnect");
	check(natsOptions_SetReconnectWait(opts, 250), "reconnect wait");
	check(natsOptions_SetReconnectBufSize(opts, 64 << 20),
	    "reconnect buffer");
	check(natsOptions_SetRetryOnFailedConnect(opts, true, on_connected,
	    NULL), "retry on failed connect");
	check(natsOptions_SetReconnectedCB(opts, on_reconnected, NULL),
	    "reconnected callback");
	check(natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL),
	    "disconnected callback");
	check(natsOptions_SetClosedCB(opts, on_closed, NULL),
	    "closed callback");
	check(natsOptions_SetMaxPendingMsgs(opts, 1 << 20), "pending");

	nats_options(opts);
	check(natsInbox_Create(&ib), "inbox");
	snprintf(echo_subj, sizeof echo_subj, "_BATCHD.%s", ib);
	natsInbox_Destroy(ib);
	bus_connect();
}

/*
 * Loop thread, every 5 ms while the subscriptions drain: cnats unsubscribes
 * and flushes on its own thread, then marks the subscription draining. A
 * synchronous subscription is drained when a wait for its next message
 * (the 1 ms wait, not a poll, sees the mark) finds none. Then answer and
 * commit what came, and drain the connection (flush, close; on_closed ends
 * the loop). The echo subscription goes: publications no barrier confirmed
 * stay in the outbox for the next start.
 */
static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	natsMsg	*m;
	size_t	 i;

	(void)fd;
	(void)what;
	(void)arg;
	bus_poll();
	for (i = 0; i < NKINDS; i++) {
		if (sub_done[i])
			continue;
		m = NULL;
		if (natsSubscription_NextMsg(&m, subs[i], 1) == NATS_OK) {
			deliver(subs[i], m);
			return;
		}
		if (natsSubscription_IsValid(subs[i]) &&
		    natsSubscription_DrainCompletionStatus(subs[i]) ==
		    NATS_ILLEGAL_STATE)
			return;
		sub_done[i] = 1;
	}
	evtimer_del(drain_ev);
	natsSubscription_Unsubscribe(echo_sub);
	store_flush_now();
	if (natsConnection_Drain(nc) != NATS_OK) {
		natsConnection_Close(nc);
		event_base_loopbreak(base);
	}
}

/*
 * Stop taking commands. Three steps: the subscriptions drain (every message
 * the server sent is delivered), the loop answers and commits them, then
 * the connection drains and closes.
 */
void
bus_stop(void)
{
	struct timeval	tv = { 0, 5000 };
	size_t		i;

	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	if (retry_ev != NULL)		/* a standby never started the bus */
		evtimer_del(retry_ev);
	if (nc == NULL || !connected) {
		/* Nothing to drain from: answer what came, and go. */
		bus_poll();
		store_flush_now();
		bus_drop();
		event_base_loopbreak(base);
		return;
	}
	for (i = 0; i < NKINDS; i++)
		sub_done[i] = natsSubscription_Drain(subs[i]) != NATS_OK;
	drain_ev = event_new(base, -1, EV_PERSIST, on_drain_tick, NULL);
	evtimer_add(drain_ev, &tv);
}

/* Release everything; the messages still queued are dropped. */
void
bus_free(void)
{
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	bus_drop();
	natsOptions_Destroy(opts);
	opts = NULL;
	if (drain_ev != NULL)
		event_free(drain_ev);
	drain_ev = NULL;
	if (connected_ev != NULL)
		event_free(connected_ev);
	connected_ev = NULL;
	if (closed_ev != NULL)
		event_free(closed_ev);
	closed_ev = NULL;
	if (retry_ev != NULL)
		event_free(retry_ev);
	retry_ev = NULL;
	jetstream_free();
	nwatchers = 0;
	nats_Close();
}

/* Replaced by tests: sees every publication instead of the connection. */
void	(*bus_publish_hook)(const char *, const void *, size_t);

/* Publish from the loop thread; failures are logged, never fatal. */
void
bus_publish(const char *subject, const void *data, size_t len)
{
	natsStatus	s;

	if (bus_publish_hook != NULL) {
		bus_publish_hook(subject, data, len);
		return;
	}
	if (nc == NULL)
		return;
	if (!ha_may_act()) {	/* a leader past its lease publishes nothing */
		tell_failed();
		return;
	}
	s = natsConnection_Publish(nc, subject, data, (int)len);
	if (s != NATS_OK) {
		log_warnx("nats publish subject=%s: %s", subject,
		    natsStatus_GetText(s));
		tell_failed();	/* resent, not confirmed */
	}
}

int
bus_connected(void)
{
	return connected;
}

/* Any thread: how often the connection was lost and made again. */
void
bus_counts(uint64_t *reconn, uint64_t *disconn)
{
	*reconn = __atomic_load_n(&reconnects, __ATOMIC_RELAXED);
	*disconn = __atomic_load_n(&disconnects, __ATOMIC_RELAXED);
}

/* Bytes published and not yet written to the server's socket. */
size_t
bus_buffered(void)
{
	int	n;

	if (nc == NULL || (n = natsConnection_Buffered(nc)) < 0)
		return 0;
	return (size_t)n;
}

/* May what must be confirmed go out: connected, and JetStream's streams made. */
int
bus_ready(void)
{
	return connected && (!cfg->jetstream || jetstream_ready());
}

/*
 * Publish with an id: through JetStream (Nats-Msg-Id = id; an outbox key,
 * if not 0, comes back with the acknowledgement), else plain.
 */
void
bus_publish_id(const char *subject, const char *id, uint64_t key,
    const void *data, size_t len)
{
	if (!cfg->jetstream || !jetstream_ready() ||
	    bus_publish_hook != NULL) {
		bus_publish(subject, data, len);
		return;
	}
	if (!ha_may_act() ||
	    jetstream_publish(subject, id, key, data, len) == -1) {
		if (key != 0)
			tell_acked(key, 0);
		else
			tell_failed();	/* a log chunk */
	}
}
