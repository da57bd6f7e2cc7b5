/*
 * outbox.c: status events reach the bus even across NATS outages and
 * restarts, in order, at least once.
 *
 * set_status() (run.c) writes each event into the outbox database in the
 * same transaction as the state change. After the commit the outbox is
 * published in key order while NATS is connected, one batch per barrier
 * (barrier.c, whose user the outbox is: it publishes on the barrier's
 * kick, and hears when what it published is confirmed or must go again).
 * Then the confirmed entries are deleted, riding on the next commit (or
 * in one of their own 100 ms later: store_submit_lazy()).
 *
 *   acked   every entry <= acked was confirmed
 *   sent    every entry <= sent was published on this connection
 *   mark    sent when the barrier out left: it confirms up to there
 *
 * When the confirmation is lost (barrier.c says when) sent goes back to
 * acked, so the rest is published again; subscribers drop duplicates by
 * the event's per-run seq.
 *
 * With jetstream = on, events go through JetStream with Nats-Msg-Id
 * "{run_uuid}:{seq}" and are confirmed by its acknowledgements instead
 * (bus.c hands them on): published keys wait in a FIFO, acked moves over
 * the acknowledged head, and a publication refused or not acknowledged is
 * published again with the same id, which JetStream drops if it has it.
 * The barrier then only confirms the log chunks of logs.c.
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

static uint64_t		 next_key = 1;
static uint64_t		 acked, sent, mark;
static uint64_t		 dropped;
static int		 dropping;
static int		 del_pending;

/* JetStream: published keys awaiting their acknowledgement, in order. */
static struct jsq {
	uint64_t	 key;
	int		 acked;
}			*jsq;
static size_t		 njsq, jsq_cap;
static struct event	*js_retry_ev;

/* Once t commits: publish what waits (the barrier's kick). */
static void
kick_cb(void *arg)
{
	(void)arg;
	barrier_kick();
}

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
		txn_defer(t, kick_cb, NULL, NULL);
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

/* The barrier's kick: publish what waits, one batch per barrier. */
static void
flush(void *arg)
{
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 kb[8];
	char		 subject[512], id[256];
	size_t		 sl, il, n = 0;
	int		 rc, js = cfg->jetstream;

	(void)arg;
	if (outbox_depth() > cfg->outbox_max)
		del_submit();
	if (!bus_ready() || barrier_retrying())
		return;		/* (a failed publication: resent soon) */
	if (sent < acked)
		sent = acked;
	/* Core NATS: one batch per barrier. JetStream: acks pace it. */
	if ((js ? njsq < BATCH : !barrier_out()) && next_key - 1 > sent &&
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
}

/* Core NATS: is there a published entry no barrier confirmed yet? */
static int
due(void *arg)
{
	(void)arg;
	return !cfg->jetstream && sent > acked;
}

/* A barrier leaves: it confirms what was sent (JetStream: nothing more). */
static void
barrier_sent(void *arg)
{
	(void)arg;
	mark = cfg->jetstream ? acked : sent;
}

/* The barrier is back: what was sent before it is delivered. */
static void
barrier_done(void *arg)
{
	(void)arg;
	if (mark > acked) {
		acked = mark;
		dropping = 0;
		del_submit();
	}
}

/* The confirmation was lost: publish from acked on. */
static void
resend(void *arg)
{
	(void)arg;
	njsq = 0;
	sent = acked;
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
	barrier_resend();
}

/*
 * bus.c: JetStream acknowledged (ok) or refused the publication of key.
 * On refusal everything from acked on is published again in a second.
 */
static void
on_acked(uint64_t key, int ok, void *arg)
{
	struct timeval	tv = { 1, 0 };
	size_t		i, done = 0;

	(void)arg;
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
	barrier_kick();
}

static const struct barrier_user	user = {
	.flush = flush,
	.due = due,
	.sent = barrier_sent,
	.done = barrier_done,
	.resend = resend,
};

static const struct bus_watcher		watcher = {
	.acked = on_acked,
};

/*
 * After store_open(), before bus_start(): find the outbox's first and last
 * keys; publish on the barrier's kick, hear JetStream's acknowledgements.
 */
void
outbox_init(void)
{
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;

	js_retry_ev = evtimer_new(base, on_js_retry, NULL);
	barrier_add(&user);
	bus_watch(&watcher);
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
	if (js_retry_ev != NULL)
		event_free(js_retry_ev);
	js_retry_ev = NULL;
	free(jsq);
	jsq = NULL;
	njsq = jsq_cap = 0;
}
