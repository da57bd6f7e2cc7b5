/*
 * jetstream.c: JetStream on bus.c's connection (jetstream = on): its
 * streams, publications with an id, and their acknowledgements.
 *
 * The streams for status events (and schedules' fires) and log chunks are
 * made if missing by a
 * short-lived thread (JetStream API calls are requests, which the loop
 * thread that drives the connection must never make); until they exist
 * nothing is published (bus_ready()), and a set-up that failed is tried
 * again 2 s later while connected. Publications carry Nats-Msg-Id, so
 * JetStream keeps each once however often batchd sends it; an outbox key
 * rides along in a Batchd-Key header and comes back with the
 * acknowledgement. cnats calls the acknowledgement handler on its
 * threads, which queues them under js_mtx for the loop, as the read
 * callback hands it commands.
 *
 * bus.c owns the connection and calls in here (attach, detach,
 * connected, publish); this file tells it back only through the two
 * callbacks jetstream_init() was given: the streams are ready, and a
 * publication was acknowledged or refused.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"
#include "jetstream.h"

static pthread_mutex_t	 js_mtx = PTHREAD_MUTEX_INITIALIZER;

static natsConnection	*conn;		/* bus.c's, while attached */
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
static void		(*ready_cb)(void);
static void		(*acked_cb)(uint64_t, int);

/*
 * A stream that exists takes subjects[1] too (the events stream of a
 * batchd from before schedules took status events only); 0 or -1.
 */
static int
js_stream_add(jsStreamInfo *si, const char *name, const char **subjects,
    int n)
{
	jsStreamConfig	 sc = *si->Config;
	jsStreamInfo	*nsi = NULL;
	jsErrCode	 jerr = 0;
	const char	*all[16];
	int		 i, j, k = 0, rc = 0;

	for (i = 0; i < sc.SubjectsLen && k < 14; i++)
		all[k++] = sc.Subjects[i];
	for (j = 0; j < n; j++) {
		for (i = 0; i < sc.SubjectsLen; i++)
			if (strcmp(sc.Subjects[i], subjects[j]) == 0)
				break;
		if (i == sc.SubjectsLen && k < 16)
			all[k++] = subjects[j];
	}
	if (k == sc.SubjectsLen)
		return 0;
	sc.Subjects = all;
	sc.SubjectsLen = k;
	if (js_UpdateStream(&nsi, js, &sc, NULL, &jerr) != NATS_OK) {
		log_warnx("jetstream: adding subjects to stream %s failed (%d)",
		    name, (int)jerr);
		rc = -1;
	} else
		log_info("jetstream: stream %s now takes %s", name,
		    subjects[n - 1]);
	jsStreamInfo_Destroy(nsi);
	return rc;
}

/* Make a stream of n subjects if it is not there; 0 or -1 (logged). */
static int
js_stream(const char *name, const char **subjects, int n)
{
	jsStreamConfig	 sc;
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	natsStatus	 s;
	int		 rc;

	s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
	if (s == NATS_OK) {
		rc = js_stream_add(si, name, subjects, n);
		jsStreamInfo_Destroy(si);
		return rc;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = n;
	sc.Storage = js_FileStorage;
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		log_warnx("jetstream: making stream %s: %s (%d)", name,
		    natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	log_info("jetstream: stream %s made for %s", name, subjects[0]);
	return 0;
}

/* Its own thread: make the streams, then tell the loop. */
static void *
js_setup(void *arg)
{
	char		 sub[512], fires[512];
	const char	*subs[2] = { sub, fires };
	int		 ok;

	(void)arg;
	/* Status events and schedules' fires go through the outbox. */
	snprintf(sub, sizeof sub, "%s.v1.*.status.>", cfg->subject_prefix);
	snprintf(fires, sizeof fires, "%s.v1.*.schedule_fires.>",
	    cfg->subject_prefix);
	ok = js_stream(cfg->jetstream_events_stream, subs, 2) == 0;
	snprintf(sub, sizeof sub, "%s.v1.*.logs.>", cfg->subject_prefix);
	ok = ok && js_stream(cfg->jetstream_logs_stream, subs, 1) == 0;
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
		ready_cb();
	} else
		evtimer_add(js_again_ev, &tv);
}

/* Loop thread: 2 s after a failed set-up, try again if connected. */
static void
on_js_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (conn != NULL &&
	    natsConnection_Status(conn) == NATS_CONN_STATUS_CONNECTED)
		js_setup_start();
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

/* Loop thread: hand the acknowledgements on (key 0: a log chunk lost). */
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
			acked_cb(a[i].key, a[i].ok);
		else
			acked_cb(0, 0);	/* a log chunk was lost */
	}
	free(a);
}

/*
 * At bus_start(): ready is called when the streams exist, acked with each
 * acknowledgement (key, ok) of a publication that carried a key, and with
 * (0, 0) when one without a key (a log chunk) was lost.
 */
void
jetstream_init(void (*ready)(void), void (*acked)(uint64_t, int))
{
	ready_cb = ready;
	acked_cb = acked;
	js_setup_ev = event_new(base, -1, 0, on_js_setup, NULL);
	js_ack_ev = event_new(base, -1, 0, on_js_acks, NULL);
	js_again_ev = evtimer_new(base, on_js_again, NULL);
}

/* A new connection (connected or still trying): a JetStream context on it. */
void
jetstream_attach(natsConnection *nc)
{
	jsOptions	jo;

	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 1 << 20;
	jo.PublishAsync.AckHandler = on_js_ack;
	if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
		fatal_code(EXIT_BUS, "nats: jetstream context");
	conn = nc;
}

/* The connection is closed and about to go: let go of the context. */
void
jetstream_detach(void)
{
	js_join();
	if (js != NULL)
		jsCtx_Destroy(js);
	js = NULL;
	conn = NULL;
}

/* Loop thread: (re)connected; make the streams unless they are made. */
void
jetstream_connected(void)
{
	if (!js_ready)
		js_setup_start();
}

/* Do the streams exist, so that publications go through JetStream? */
int
jetstream_ready(void)
{
	return js != NULL && js_ready;
}

/*
 * Publish through JetStream with Nats-Msg-Id id; a key, if not 0, comes
 * back with the acknowledgement. 0, or -1 (logged) if cnats refused it
 * at once: then no acknowledgement comes.
 */
int
jetstream_publish(const char *subject, const char *id, uint64_t key,
    const void *data, size_t len)
{
	natsMsg		*m = NULL;
	natsStatus	 s;
	char		 k[24];

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
		return -1;
	}
	return 0;
}

/* Shutdown, after jetstream_detach(). */
void
jetstream_free(void)
{
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
}
