/*
 * bus.c: the NATS connection, driven by our event base.
 *
 * The loop thread does the connection's I/O: the socket's read and write
 * events (our adapter below, cnats's event loop interface) call cnats to
 * read or write. The subscriptions are synchronous: what a read brought is
 * queued in cnats, and the same callback takes it (bus_poll()) and hands
 * each message to api_message(). No thread stands between the socket and
 * the state machine, so a command costs no thread switch.
 *
 * Replies and events are published from the loop thread. The connection
 * sends each publication at once (SendAsap; with nats_send_asap = off the
 * adapter's write event sends what a loop turn published, in one go, when
 * the loop next runs), and nothing on the loop thread ever waits on the
 * connection (no flush, no request): the loop does the connection's I/O.
 *
 * NATS down at start or later: cnats retries forever; the daemon runs on.
 * JetStream (jetstream = on): streams for status events and log chunks are
 * made if missing by a short-lived thread (JetStream API calls are requests,
 * which the loop thread that drives the connection must never make); until
 * they exist nothing is published. Publications carry Nats-Msg-Id, so
 * JetStream keeps each once however often batchd sends it; cnats calls the
 * acknowledgement handler on its threads, which queues them for the loop
 * like the read callback hands it commands.
 *
 * cnats gives a connection up for good when the server refuses its
 * credentials twice; batchd then drops it and connects anew, backing off
 * from 1 s to 30 s, so fixed credentials on the server are picked up.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <nats/nats.h>

#include "batchd.h"

/* The socket's events for cnats (natsOptions_SetEventLoop). */
struct sock_events {
	natsConnection	*nc;
	struct event	*read, *write;
};

static pthread_mutex_t	 js_mtx = PTHREAD_MUTEX_INITIALIZER;

static natsConnection	*nc;
static natsOptions	*opts;
static natsSubscription	*subs[3];
static volatile int	 connected;
static int		 sub_done[3];	/* drained, or its drain failed */
static struct event	*drain_ev;	/* bus_stop(): polls the drains */
static struct event	*connected_ev;	/* (re)connected: resend */
static struct event	*closed_ev;	/* cnats gave the connection up */
static struct event	*retry_ev;
static int		 retry_s = 1;
static int		 stopping;	/* atomic: bus_stop() was called */

static jsCtx		*js;
static int		 js_ready;	/* the streams exist */
static pthread_t	 js_thread;
static int		 js_thread_on;
static int		 js_setup_ok;	/* atomic: the thread's result */
static struct event	*js_setup_ev, *js_ack_ev, *js_again_ev;
struct js_ack {
	uint64_t	 key;
	int		 ok;
};
static struct js_ack	*js_acks;	/* under js_mtx */
static size_t		 n_js_acks, cap_js_acks;
static natsSubscription	*barrier_sub;
static char		 barrier_subj[128];
static uint64_t		 barrier_seq;

static void	bus_poll(void);

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
		logs_writable();
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

/* Loop thread: one of our barriers came back (outbox.c). */
static void
barrier_back(natsMsg *m)
{
	const uint8_t	*p = (const uint8_t *)natsMsg_GetData(m);
	uint64_t	 tok = 0;
	int		 i;

	if (natsMsg_GetDataLength(m) != 8)
		return;
	for (i = 0; i < 8; i++)
		tok = (tok << 8) | p[i];
	outbox_barrier_done(tok);
}

/*
 * Publish a barrier: a marker to a subject only this connection reads.
 * When it comes back, the server has everything published before it.
 */
uint64_t
bus_barrier(void)
{
	uint8_t		p[8];
	uint64_t	tok = ++barrier_seq;
	int		i;

	for (i = 7; i >= 0; i--, tok >>= 8)
		p[i] = tok & 0xff;
	bus_publish(barrier_subj, p, sizeof p);
	return barrier_seq;
}

/* Make a stream if it is not there; 0 or -1 (logged). */
static int
js_stream(const char *name, const char *subject)
{
	jsStreamConfig	 sc;
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	natsStatus	 s;
	const char	*subjects[1] = { subject };

	s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		log_warnx("jetstream: making stream %s: %s (%d)", name,
		    natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	log_info("jetstream: stream %s made for %s", name, subject);
	return 0;
}

/* Its own thread: make the streams, then tell the loop. */
static void *
js_setup(void *arg)
{
	char	sub[512];
	int	ok;

	(void)arg;
	snprintf(sub, sizeof sub, "%s.v1.*.status.>", cfg->subject_prefix);
	ok = js_stream(cfg->jetstream_events_stream, sub) == 0;
	snprintf(sub, sizeof sub, "%s.v1.*.logs.>", cfg->subject_prefix);
	ok = ok && js_stream(cfg->jetstream_logs_stream, sub) == 0;
	__atomic_store_n(&js_setup_ok, ok, __ATOMIC_RELEASE);
	event_active(js_setup_ev, 0, 0);
	return NULL;
}

static void
js_join(void)
{
	if (js_thread_on)
		pthread_join(js_thread, NULL);
	js_thread_on = 0;
}

static void
js_setup_start(void)
{
	if (js_thread_on || js == NULL)
		return;
	if (pthread_create(&js_thread, NULL, js_setup, NULL) != 0) {
		log_warn("jetstream: thread");
		return;
	}
	js_thread_on = 1;
}

/* Loop thread: the set-up thread is done. */
static void
on_js_setup(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	tv = { 2, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	js_join();
	if (__atomic_load_n(&js_setup_ok, __ATOMIC_ACQUIRE)) {
		js_ready = 1;
		log_info("jetstream ready events=%s logs=%s",
		    cfg->jetstream_events_stream, cfg->jetstream_logs_stream);
		outbox_resend();
	} else
		evtimer_add(js_again_ev, &tv);
}

static void
on_js_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (connected)
		js_setup_start();
}

/*
 * natsMsg_Destroy() does not free a message cnats made (one it delivered,
 * or one of ours to JetStream): it hands it to the library's
 * garbage-collector thread and wakes that thread, about once per two
 * commands under load, and the memory is freed on a thread that never
 * allocates. natsMsg_free() is what that thread calls with it
 * (exported by libnats, not declared in nats.h; its signature unchanged
 * since cnats 1.0);
 * for a message not set up for the collector, natsMsg_Destroy() calls it
 * itself. Freeing on the thread done with the message: durable run.submit
 * at K=32 +10 %. The reference is weak: a libnats without it gets
 * natsMsg_Destroy().
 */
extern void	natsMsg_free(void *) __attribute__((weak));

static void
msg_free(natsMsg *m)
{
	if (natsMsg_free != NULL)
		natsMsg_free(m);
	else
		natsMsg_Destroy(m);
}

/* cnats thread: JetStream answered a publication; m is ours to free. */
static void
on_js_ack(jsCtx *j, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	const char	*v = NULL;
	uint64_t	 key = 0;

	(void)j;
	(void)arg;
	if (natsMsgHeader_Get(m, "Batchd-Key", &v) == NATS_OK && v != NULL)
		key = strtoull(v, NULL, 10);
	msg_free(m);
	if (key == 0 && pae == NULL)
		return;		/* a log chunk, stored */
	pthread_mutex_lock(&js_mtx);
	if (n_js_acks == cap_js_acks) {
		size_t	n = cap_js_acks == 0 ? 256 : cap_js_acks * 2;
		void	*p = realloc(js_acks, n * sizeof *js_acks);

		if (p == NULL) {
			pthread_mutex_unlock(&js_mtx);
			return;	/* the outbox publishes it again later */
		}
		js_acks = p;
		cap_js_acks = n;
	}
	js_acks[n_js_acks].key = key;
	js_acks[n_js_acks].ok = pa != NULL && pae == NULL;
	n_js_acks++;
	pthread_mutex_unlock(&js_mtx);
	event_active(js_ack_ev, 0, 0);
}

/* Loop thread: hand the acknowledgements to the outbox. */
static void
on_js_acks(evutil_socket_t fd, short what, void *arg)
{
	struct js_ack	*a;
	size_t		 n, i;

	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&js_mtx);
	a = js_acks;
	n = n_js_acks;
	js_acks = NULL;
	n_js_acks = cap_js_acks = 0;
	pthread_mutex_unlock(&js_mtx);
	for (i = 0; i < n; i++) {
		if (a[i].key != 0)
			outbox_js_acked(a[i].key, a[i].ok);
		else
			outbox_js_acked(0, 0);	/* a log chunk was lost */
	}
	free(a);
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
	if (cfg->jetstream && !js_ready)
		js_setup_start();
	outbox_resend();
	bus_poll();
}

/* Loop thread: a message to the API, or a barrier to the outbox. */
static void
deliver(natsSubscription *sub, natsMsg *m)
{
	if (sub == barrier_sub)
		barrier_back(m);
	else
		api_message(natsMsg_GetSubject(m), natsMsg_GetReply(m),
		    natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	msg_free(m);
}

/*
 * Loop thread: deliver every message the subscriptions hold. Only what is
 * pending is taken, so an empty subscription costs a lock and no error.
 */
static void
bus_poll(void)
{
	natsSubscription	*all[4] = { subs[0], subs[1], subs[2],
				    barrier_sub };
	natsMsg			*m;
	natsStatus		 s;
	size_t			 i;
	int			 n;

	for (i = 0; i < 4; i++) {
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
	metrics_nats_event(1);
	on_connected(c, arg);
}

static void
on_disconnected(natsConnection *c, void *arg)
{
	(void)c;
	(void)arg;
	connected = 0;
	metrics_nats_event(0);
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

/* Credentials and TLS from the configuration; secrets from 0600 files. */
static void
bus_auth(void)
{
	char	*secret, *cause;

	if (cfg->nats_user != NULL) {
		if (config_secret_file("nats_password_file",
		    cfg->nats_password_file, &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		check(natsOptions_SetUserInfo(opts, cfg->nats_user, secret),
		    "user");
		free(secret);
	}
	if (cfg->nats_token_file != NULL) {
		if (config_secret_file("nats_token_file", cfg->nats_token_file,
		    &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		check(natsOptions_SetToken(opts, secret), "token");
		free(secret);
	}
	if (cfg->nats_nkey_seed_file != NULL) {
		if (config_secret_file("nats_nkey_seed_file",
		    cfg->nats_nkey_seed_file, &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		free(secret);
		check(natsOptions_SetNKeyFromSeed(opts, cfg->nats_nkey,
		    cfg->nats_nkey_seed_file), "nkey seed");
	}
	if (cfg->nats_creds_file != NULL) {
		if (config_secret_file("nats_creds_file", cfg->nats_creds_file,
		    &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		free(secret);
		check(natsOptions_SetUserCredentialsFromFiles(opts,
		    cfg->nats_creds_file, NULL), "creds");
	}
	if (cfg->nats_tls_ca != NULL || cfg->nats_tls_cert != NULL ||
	    strncmp(cfg->nats_url, "tls://", 6) == 0) {
		check(natsOptions_SetSecure(opts, true), "tls");
		if (cfg->nats_tls_ca != NULL)
			check(natsOptions_LoadCATrustedCertificates(opts,
			    cfg->nats_tls_ca), "tls ca");
		if (cfg->nats_tls_cert != NULL) {
			if (config_secret_file("nats_tls_key",
			    cfg->nats_tls_key, &secret, &cause) == -1)
				fatal_code(EXIT_CONFIG, "%s", cause);
			free(secret);
			check(natsOptions_LoadCertificatesChain(opts,
			    cfg->nats_tls_cert, cfg->nats_tls_key),
			    "tls certificate");
		}
	}
}

/* Loop thread: let go of the connection and its subscriptions. */
static void
bus_drop(void)
{
	size_t	i;

	if (nc == NULL)
		return;
	natsConnection_Close(nc);
	js_join();
	if (js != NULL)
		jsCtx_Destroy(js);
	js = NULL;
	for (i = 0; i < 3; i++) {
		natsSubscription_Destroy(subs[i]);
		subs[i] = NULL;
	}
	natsSubscription_Destroy(barrier_sub);
	barrier_sub = NULL;
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
	static const char	*kinds[] = { "jobdef", "cluster", "run" };
	char			 subj[512];
	natsStatus		 s;
	size_t			 i;

	s = natsConnection_Connect(&nc, opts);
	if (cfg->jetstream && (s == NATS_OK || s == NATS_NOT_YET_CONNECTED)) {
		jsOptions	jo;

		jsOptions_Init(&jo);
		jo.PublishAsync.MaxPending = 1 << 20;
		jo.PublishAsync.AckHandler = on_js_ack;
		if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
			fatal_code(EXIT_BUS, "nats: jetstream context");
	}
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
	for (i = 0; i < 3; i++) {
		snprintf(subj, sizeof subj, "%s.v1.*.%s.*", cfg->subject_prefix,
		    kinds[i]);
		s = natsConnection_SubscribeSync(&subs[i], nc, subj);
		if (s != NATS_OK) {
			retry_later(natsStatus_GetText(s));
			return;
		}
		natsSubscription_SetPendingLimits(subs[i], -1, -1);
		log_info("subscribed subject=%s", subj);
	}
	s = natsConnection_SubscribeSync(&barrier_sub, nc, barrier_subj);
	if (s != NATS_OK) {
		retry_later(natsStatus_GetText(s));
		return;
	}
	if (connected)
		event_active(connected_ev, 0, 0);
}

/* Set up the client, then connect. */
void
bus_start(void)
{
	natsInbox	*ib = NULL;

	connected_ev = event_new(base, -1, 0, on_connected_loop, NULL);
	closed_ev = event_new(base, -1, 0, on_closed_loop, NULL);
	retry_ev = evtimer_new(base, on_retry, NULL);
	js_setup_ev = event_new(base, -1, 0, on_js_setup, NULL);
	js_ack_ev = event_new(base, -1, 0, on_js_acks, NULL);
	js_again_ev = evtimer_new(base, on_js_again, NULL);
	check(natsOptions_Create(&opts), "options");
	check(natsOptions_SetURL(opts, cfg->nats_url), "url");
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

	bus_auth();
	check(natsInbox_Create(&ib), "inbox");
	snprintf(barrier_subj, sizeof barrier_subj, "_BATCHD.%s", ib);
	natsInbox_Destroy(ib);
	bus_connect();
}

/*
 * Loop thread, every 5 ms while the subscriptions drain: cnats unsubscribes
 * and flushes on its own thread, then marks the subscription draining. A
 * synchronous subscription is drained when a wait for its next message
 * (the 1 ms wait, not a poll, sees the mark) finds none. Then answer and
 * commit what came, and drain the connection (flush, close; on_closed ends
 * the loop). The barrier subscription goes: unconfirmed publications stay
 * in the outbox for the next start.
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
	for (i = 0; i < 3; i++) {
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
	natsSubscription_Unsubscribe(barrier_sub);
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
	evtimer_del(retry_ev);
	if (nc == NULL || !connected) {
		/* Nothing to drain from: answer what came, and go. */
		bus_poll();
		store_flush_now();
		bus_drop();
		event_base_loopbreak(base);
		return;
	}
	for (i = 0; i < 3; i++)
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
	if (js_setup_ev != NULL)
		event_free(js_setup_ev);
	if (js_ack_ev != NULL)
		event_free(js_ack_ev);
	if (js_again_ev != NULL)
		event_free(js_again_ev);
	js_setup_ev = js_ack_ev = js_again_ev = NULL;
	free(js_acks);
	js_acks = NULL;
	n_js_acks = cap_js_acks = 0;
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
	s = natsConnection_Publish(nc, subject, data, (int)len);
	if (s != NATS_OK) {
		log_warnx("nats publish subject=%s: %s", subject,
		    natsStatus_GetText(s));
		outbox_publish_failed();	/* resent, not confirmed */
	}
}

int
bus_connected(void)
{
	return connected;
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

/* May the outbox publish: connected, and with JetStream, its streams made. */
int
bus_ready(void)
{
	return connected && (!cfg->jetstream || js_ready);
}

/*
 * Publish with an id: through JetStream (Nats-Msg-Id = id; an outbox key,
 * if not 0, comes back with the acknowledgement), else plain.
 */
void
bus_publish_id(const char *subject, const char *id, uint64_t key,
    const void *data, size_t len)
{
	natsMsg		*m = NULL;
	natsStatus	 s;
	char		 k[24];

	if (!cfg->jetstream || js == NULL || !js_ready ||
	    bus_publish_hook != NULL) {
		bus_publish(subject, data, len);
		return;
	}
	s = natsMsg_Create(&m, subject, NULL, data, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK && key != 0) {
		snprintf(k, sizeof k, "%llu", (unsigned long long)key);
		s = natsMsgHeader_Set(m, "Batchd-Key", k);
	}
	if (s == NATS_OK)
		s = js_PublishMsgAsync(js, &m, NULL);
	if (s != NATS_OK) {
		log_warnx("jetstream publish subject=%s: %s", subject,
		    natsStatus_GetText(s));
		msg_free(m);
		if (key != 0)
			outbox_js_acked(key, 0);
		else
			outbox_publish_failed();	/* a log chunk */
	}
}
