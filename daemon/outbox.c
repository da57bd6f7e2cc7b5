/*
 * outbox.c: status events reach the bus even across NATS outages and
 * restarts, in order, at least once.
 *
 * set_status() (run.c) writes each event into the outbox database in the
 * same transaction as the state change. After the commit the outbox is
 * published in key order while NATS is connected. Core NATS does not
 * acknowledge publications and cnats may drop what it buffered during a
 * disconnection, so delivery is confirmed with a barrier: a marker message
 * batchd publishes to a subject only it subscribes to, on the same
 * connection. NATS keeps a connection's messages in order, so when the
 * marker comes back the server has taken everything published before it.
 * Then the acknowledged entries are deleted, riding on the next commit (or
 * in one of their own 100 ms later: store_submit_lazy()).
 *
 *   acked   every entry <= acked was confirmed by a barrier
 *   sent    every entry <= sent was published on this connection
 *
 * A disconnection, a reconnection or a barrier not back in 5 s resets
 * sent to acked, so the rest is published again; subscribers drop
 * duplicates by the event's per-run seq. The same barrier confirms the log
 * chunks of logs.c.
 *
 * With jetstream = on, events go through JetStream with Nats-Msg-Id
 * "{run_uuid}:{seq}" and are confirmed by its acknowledgements instead:
 * published keys wait in a FIFO, acked moves over the acknowledged head,
 * and a publication refused or not acknowledged is published again with
 * the same id, which JetStream drops if it has it. The barrier then only
 * confirms log chunks.
 *
 * Bound: when more than outbox_max entries wait, the oldest are dropped
 * (a warning and a metric); the run's event history (run.events) keeps
 * them all, so a subscriber can still catch up.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

#define BATCH		1000	/* entries published per barrier */
#define BARRIER_MS	5000

static uint64_t		 next_key = 1;
static uint64_t		 acked, sent;
static uint64_t		 token, token_upto;	/* the barrier out, or 0 */
static uint64_t		 dropped;
static int		 dropping;
static struct event	*timeout_ev, *kick_ev, *again_ev;
static int		 del_pending;
static int		 lost;		/* a publication failed: confirm none */

/* JetStream: published keys awaiting their acknowledgement, in order. */
static struct jsq {
	uint64_t	 key;
	int		 acked;
}			*jsq;
static size_t		 njsq, jsq_cap;
static struct event	*js_retry_ev;

/*
 * Queue a publication in t (value: 2-byte subject length, subject, 1-byte
 * id length, id, payload). It is sent once t commits. 0 or an LMDB error.
 */
int
outbox_put(struct txn *t, const char *subject, const char *id,
    const void *data, size_t len)
{
	struct buf	v = { 0 };
	uint8_t		k[8], sl[2], il;
	size_t		n = strlen(subject);
	int		rc;

	sl[0] = (n >> 8) & 0xff;
	sl[1] = n & 0xff;
	il = (uint8_t)strlen(id);
	buf_add(&v, sl, 2);
	buf_add(&v, subject, n);
	buf_add(&v, &il, 1);
	buf_add(&v, id, il);
	buf_add(&v, data, len);
	be64_put(k, next_key);
	rc = store_put(t, DB_OUTBOX, k, 8, v.p, v.len);
	buf_free(&v);
	if (rc == 0) {
		/* A key used by an aborted transaction is just skipped. */
		next_key++;
		txn_defer(t, (effect_cb)outbox_kick, NULL, NULL);
	}
	return rc;
}

uint64_t
outbox_depth(void)
{
	return next_key - 1 - acked;
}

uint64_t
outbox_dropped(void)
{
	return dropped;
}

struct del_op {
	struct op	op;
	uint64_t	upto;
};

/* Delete the acknowledged entries, and the oldest past the bound. */
static int
del_apply(struct op *op, struct txn *t)
{
	struct del_op	*d = (struct del_op *)op;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 key, keep = cfg->outbox_max;
	int		 rc;

	if (d->upto < acked)
		d->upto = acked;	/* more was confirmed while it waited */
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_OUTBOX),
	    &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		key = be64_get(k.mv_data);
		if (key > d->upto) {
			/* Unsent: dropped only past the bound. */
			if (next_key - key <= keep)
				break;
			d->upto = key;
		}
		if ((rc = store_cursor_del(c, DB_OUTBOX)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
del_free(struct op *op)
{
	struct del_op	*d = (struct del_op *)op;

	del_pending = 0;
	if (d->upto > acked) {
		if (!dropping)
			log_warnx("outbox over %u entries (NATS away?): oldest "
			    "events dropped from the outbox; run.events keeps "
			    "them", cfg->outbox_max);
		dropping = 1;
		dropped += d->upto - acked;
		acked = d->upto;
		if (sent < acked)
			sent = acked;
	}
	free(d);
}

static void
del_fail(struct op *op, int rc)
{
	log_warnx("outbox: deleting sent entries: %s", mdb_strerror(rc));
	del_pending = 0;
	free(op);
}

static void
del_submit(void)
{
	struct del_op	*d;

	if (del_pending)
		return;
	del_pending = 1;
	d = xcalloc(1, sizeof *d);
	d->op.apply = del_apply;
	d->op.free = del_free;
	d->op.fail = del_fail;
	d->upto = acked;
	store_submit_lazy(&d->op);	/* a crash before it: sent again */
}

static void	jsq_push(uint64_t);

/* Publish what waits, then a barrier; at most one barrier is out. */
static void
kick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { BARRIER_MS / 1000, 0 };
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 kb[8];
	char		 subject[512], id[256];
	size_t		 sl, il, n = 0;
	int		 rc, js = cfg->jetstream;

	(void)fd;
	(void)what;
	(void)arg;
	if (outbox_depth() > cfg->outbox_max)
		del_submit();
	if (!bus_ready() || evtimer_pending(again_ev, NULL))
		return;		/* (a failed publication: resent soon) */
	if (sent < acked)
		sent = acked;
	/* Core NATS: one batch per barrier. JetStream: acks pace it. */
	if ((js ? njsq < BATCH : token == 0) && next_key - 1 > sent &&
	    (t = store_reader()) != NULL) {
		if (mdb_cursor_open(t, store_dbi(DB_OUTBOX), &c) == 0) {
			be64_put(kb, sent + 1);
			k.mv_data = kb;
			k.mv_size = 8;
			for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			    rc == 0 && n < BATCH;
			    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
				const uint8_t *p = v.mv_data;

				sl = ((size_t)p[0] << 8) | p[1];
				if (sl + 3 > v.mv_size || sl >= sizeof subject)
					continue;
				memcpy(subject, p + 2, sl);
				subject[sl] = '\0';
				il = p[2 + sl];
				if (sl + 3 + il > v.mv_size)
					continue;
				memcpy(id, p + 3 + sl, il);
				id[il] = '\0';
				sent = be64_get(k.mv_data);
				if (js)
					jsq_push(sent);
				bus_publish_id(subject, id, js ? sent : 0,
				    p + 3 + sl + il, v.mv_size - 3 - sl - il);
			}
			mdb_cursor_close(c);
		}
	}
	if (token != 0 || (js ? !logs_unacked() : n == 0 && !logs_unacked()))
		return;
	logs_barrier_sent();
	token = bus_barrier();
	token_upto = js ? acked : sent;
	evtimer_add(timeout_ev, &tv);
}

static void
jsq_push(uint64_t key)
{
	if (njsq == jsq_cap) {
		jsq_cap = jsq_cap == 0 ? 256 : jsq_cap * 2;
		jsq = xreallocarray(jsq, jsq_cap, sizeof *jsq);
	}
	jsq[njsq].key = key;
	jsq[njsq].acked = 0;
	njsq++;
}

static void
on_js_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	outbox_resend();
}

/*
 * JetStream acknowledged (ok) or refused the publication of key. On
 * refusal everything from acked on is published again in a second.
 */
void
outbox_js_acked(uint64_t key, int ok)
{
	struct timeval	tv = { 1, 0 };
	size_t		i, done = 0;

	if (!ok) {
		log_warnx("jetstream refused or lost outbox entry %llu; "
		    "publishing again", (unsigned long long)key);
		if (!evtimer_pending(js_retry_ev, NULL))
			evtimer_add(js_retry_ev, &tv);
		return;
	}
	for (i = 0; i < njsq; i++)
		if (jsq[i].key == key)
			jsq[i].acked = 1;
	while (done < njsq && jsq[done].acked)
		done++;
	if (done == 0)
		return;
	acked = jsq[done - 1].key;
	memmove(jsq, jsq + done, (njsq - done) * sizeof *jsq);
	njsq -= done;
	dropping = 0;
	del_submit();
	outbox_kick();
}

/* After a commit or a log write: publish soon (once per loop turn). */
void
outbox_kick(void)
{
	if (kick_ev != NULL)
		event_active(kick_ev, 0, 0);
}

/*
 * bus.c: cnats refused a publication (the connection is not gone, or a
 * reconnection would resend it): the barrier out may not confirm it.
 */
void
outbox_publish_failed(void)
{
	lost = 1;
}

/* The barrier tok came back: what was sent before it is delivered. */
void
outbox_barrier_done(uint64_t tok)
{
	static const struct timeval	tv = { 1, 0 };

	if (tok != token)
		return;
	token = 0;
	evtimer_del(timeout_ev);
	if (lost) {
		/* Not all of it: publish again from acked, in a second. */
		lost = 0;
		log_warnx("outbox: a publication failed; publishing again");
		evtimer_add(again_ev, &tv);
		return;
	}
	logs_barrier_done();
	if (token_upto > acked) {
		acked = token_upto;
		dropping = 0;
		del_submit();
	}
	outbox_kick();
}

/* Connected again, or a barrier was lost: publish from acked on. */
void
outbox_resend(void)
{
	njsq = 0;
	token = 0;
	if (timeout_ev != NULL)
		evtimer_del(timeout_ev);
	if (again_ev != NULL)
		evtimer_del(again_ev);
	lost = 0;
	sent = acked;
	logs_resend();
	outbox_kick();
}

static void
on_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	outbox_resend();
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("outbox: barrier not back in %d ms; publishing again",
	    BARRIER_MS);
	outbox_resend();
}

/* After store_open(): find the outbox's first and last keys. */
void
outbox_init(void)
{
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;

	timeout_ev = evtimer_new(base, on_timeout, NULL);
	again_ev = evtimer_new(base, on_again, NULL);
	js_retry_ev = evtimer_new(base, on_js_retry, NULL);
	kick_ev = event_new(base, -1, 0, kick, NULL);
	event_priority_set(kick_ev, 2);
	if ((t = store_reader()) == NULL)
		return;
	if (mdb_cursor_open(t, store_dbi(DB_OUTBOX), &c) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0)
			acked = be64_get(k.mv_data) - 1;
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
			next_key = be64_get(k.mv_data) + 1;
		else
			next_key = 1;
		if (acked >= next_key)
			acked = next_key - 1;
		mdb_cursor_close(c);
	}
	sent = acked;
	if (outbox_depth() > 0)
		log_info("outbox: %llu events to publish",
		    (unsigned long long)outbox_depth());
}

void
outbox_free(void)
{
	if (timeout_ev != NULL)
		event_free(timeout_ev);
	if (kick_ev != NULL)
		event_free(kick_ev);
	if (js_retry_ev != NULL)
		event_free(js_retry_ev);
	if (again_ev != NULL)
		event_free(again_ev);
	timeout_ev = kick_ev = js_retry_ev = again_ev = NULL;
	free(jsq);
	jsq = NULL;
	njsq = jsq_cap = 0;
}
