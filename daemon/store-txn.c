/*
 * store-txn.c: the loop turn's transaction: the group commit.
 *
 * Every state change is an op (batchd.h). store_submit() queues an op and
 * activates the flush event, which has the lowest priority of the loop: it
 * runs once per loop turn, after every message and timer of that turn has
 * queued its op. The flush applies all queued ops, undoing the writes of
 * one that fails (from the old values each write records first: a failing
 * op leaves no partial writes), makes the turn durable (one synced write
 * for the whole turn: its frame of the redo log, redo.c) and only then
 * runs the effects the ops deferred: replies, events, spawns. Nothing
 * outside LMDB changes before that.
 *
 * Ops write through store_put(), store_del() and store_cursor_del(), into
 * the write transaction kept open between checkpoints (live, store-env.c);
 * each write records its undo here and its redo in the log's frame.
 *
 * MDB_MAP_FULL: the ops before the one that hit it are made durable, live
 * is dropped, the map is doubled (up to 64 times the configured size) and
 * the rest are applied again on the next turn, on a live rebuilt. Past
 * the limit, or on any other write error (ENOSPC, EIO), the ops fail:
 * their fail() answers UNAVAILABLE or retries. A redo frame whose write
 * failed may be on disk all the same: before its ops are answered, a
 * checkpoint without it ends its generation; if that fails too, batchd
 * exits unanswered (turn_commit()).
 *
 * Calls go down only: to the environment (store-env.c) and the redo log.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"
#include "store-int.h"

#define CKPT_BYTES	(8u << 20)	/* of redo log */
#define BUF_KEEP	(1u << 20)	/* larger turn buffers are given back */
#define LAZY_MS		100	/* the longest a lazy op waits for a ride */

struct effect {
	effect_cb		 fn;
	void			*arg;
	void			(*free)(void *);
	int			 late;		/* txn_defer_late() */
	STAILQ_ENTRY(effect)	 entry;
};

/* An op applied in a turn, and its result. */
struct done {
	struct op	*op;
	int		 rc;
};

/* What applying a turn's ops left (turn_apply()). */
struct turn {
	struct done	*done;		/* the ops applied, in order */
	size_t		 n, cap;
	struct effects	 effects;	/* of those whose writes stand */
	int		 grow;		/* MAP_FULL: grow the map first */
	int		 broken;	/* live is not to be trusted */
};

static struct ops	 pending = TAILQ_HEAD_INITIALIZER(pending);
static struct ops	 lazy = TAILQ_HEAD_INITIALIZER(lazy);
static struct event	*flush_ev, *lazy_ev, *late_ev;
static struct effects	 late_q = STAILQ_HEAD_INITIALIZER(late_q);
static uint64_t		 turns;		/* that wrote something */
static int		 in_turn;	/* store_flush() is applying ops */
static int		 migrating;	/* writes bypass the redo log */
static struct buf	 undo;		/* of the op being applied */

static void	store_flush(evutil_socket_t, short, void *);
static void	ops_free(struct ops *);
static void	late_run(evutil_socket_t, short, void *);
static void	effects_drop(struct effects *, int);
static void	lazy_fire(evutil_socket_t, short, void *);

/* The turn's events, once the environment is open (store_open()). */
void
store_txn_start(void)
{
	flush_ev = event_new(base, -1, 0, store_flush, NULL);
	event_priority_set(flush_ev, 2);
	late_ev = event_new(base, -1, 0, late_run, NULL);
	event_priority_set(late_ev, 1);
	lazy_ev = evtimer_new(base, lazy_fire, NULL);
}

/* Free the ops never applied, the turn's events and its undo buffer
 * (store_close()). */
void
store_txn_close(void)
{
	TAILQ_CONCAT(&pending, &lazy, entry);
	ops_free(&pending);
	buf_free(&undo);
	if (flush_ev != NULL)
		event_free(flush_ev);
	if (lazy_ev != NULL)
		event_free(lazy_ev);
	if (late_ev != NULL)
		event_free(late_ev);
	late_ev = NULL;
	effects_drop(&late_q, 0);	/* store_flush_now() ran them */
	flush_ev = lazy_ev = NULL;
}

/* How many turns wrote something (tests: has a turn changed anything?). */
uint64_t
store_turns(void)
{
	return turns;
}

/*
 * The transaction reads between turns use (outbox, metrics): live, which
 * has every turn applied. NULL if it cannot be opened. Never to be
 * committed or aborted, nor kept past the loop turn.
 */
MDB_txn *
store_reader(void)
{
	if (in_turn) {
		log_warnx("storage: a read outside an op while ops apply");
		return NULL;
	}
	return store_live_begin() == 0 ? store_live() : NULL;
}

/* Queue an op for this loop turn's transaction. */
void
store_submit(struct op *op)
{
	TAILQ_INSERT_TAIL(&pending, op, entry);
	if (flush_ev != NULL)
		event_active(flush_ev, 0, 0);
}

/*
 * Queue an op whose effect is not urgent (deleting delivered outbox
 * entries): it rides on the next commit, or gets one of its own LAZY_MS
 * later, so it never costs a request an fsync of its own.
 */
void
store_submit_lazy(struct op *op)
{
	static const struct timeval	tv = { 0, LAZY_MS * 1000 };

	TAILQ_INSERT_TAIL(&lazy, op, entry);
	if (lazy_ev != NULL && !evtimer_pending(lazy_ev, NULL))
		evtimer_add(lazy_ev, &tv);
}

/* LAZY_MS after a lazy op came: the lazy ops get a turn. */
static void
lazy_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (TAILQ_EMPTY(&lazy))
		return;
	TAILQ_CONCAT(&pending, &lazy, entry);
	event_active(flush_ev, 0, 0);
}

/* Apply the pending and lazy ops now, effects and all (tests and
 * shutdown). */
void
store_flush_now(void)
{
	TAILQ_CONCAT(&pending, &lazy, entry);
	late_run(-1, 0, NULL);
	while (!TAILQ_EMPTY(&pending)) {
		store_flush(-1, 0, NULL);
		late_run(-1, 0, NULL);
	}
}

/*
 * Apply op after the op that is applying t, in the same turn and
 * transaction, if that op's writes stand; its own failure undoes only its
 * own writes. It goes to the end of the turn's ops.
 */
void
txn_then(struct txn *t, struct op *op)
{
	TAILQ_INSERT_TAIL(&t->then, op, entry);
}

/* Free ops never applied: the op that queued them was undone. */
static void
ops_free(struct ops *l)
{
	struct op	*op;

	while ((op = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, op, entry);
		op->free(op);
	}
}

/* Defer fn(arg) in t, late or not. */
static void
defer(struct txn *t, effect_cb fn, void *arg, void (*freefn)(void *),
    int late)
{
	struct effect	*e;

	e = xcalloc(1, sizeof *e);
	e->fn = fn;
	e->arg = arg;
	e->free = freefn;
	e->late = late;
	STAILQ_INSERT_TAIL(&t->effects, e, entry);
}

/* Defer fn(arg) until t and its parents commit; free(arg) runs after fn, or
 * alone if the transaction is abandoned. */
void
txn_defer(struct txn *t, effect_cb fn, void *arg, void (*freefn)(void *))
{
	defer(t, fn, arg, freefn, 0);
}

/*
 * The same for work that takes its time (starting or signalling a
 * process): it runs after every other effect of the turn, so the turn's
 * replies and events do not wait for the attempts it starts. The late
 * effects keep their own order: a kill deferred after a start follows it.
 */
void
txn_defer_late(struct txn *t, effect_cb fn, void *arg,
    void (*freefn)(void *))
{
	defer(t, fn, arg, freefn, 1);
}

/* Run (run != 0) or abandon e, then free it. */
static void
effect_end(struct effect *e, int run)
{
	if (run && e->fn != NULL)
		e->fn(e->arg);
	if (e->free != NULL)
		e->free(e->arg);
	free(e);
}

/*
 * Run (run != 0) or abandon l's effects, the late ones last: from late_ev,
 * which has the socket's write event's priority and is activated after
 * it, so what the turn published (its replies, its events) is on the wire
 * before its spawns, and both happen before the next turn's flush (at a
 * lower priority).
 */
static void
effects_drop(struct effects *l, int run)
{
	struct effect	*e;

	while ((e = STAILQ_FIRST(l)) != NULL) {
		STAILQ_REMOVE_HEAD(l, entry);
		if (run && e->late)
			STAILQ_INSERT_TAIL(&late_q, e, entry);
		else
			effect_end(e, run);
	}
	if (!STAILQ_EMPTY(&late_q)) {
		if (late_ev != NULL)
			event_active(late_ev, 0, 0);
		else
			late_run(-1, 0, NULL);
	}
}

/* The late effects of the turns flushed, in order. */
static void
late_run(evutil_socket_t fd, short what, void *arg)
{
	struct effect	*e;

	(void)fd;
	(void)what;
	(void)arg;
	while ((e = STAILQ_FIRST(&late_q)) != NULL) {
		STAILQ_REMOVE_HEAD(&late_q, entry);
		effect_end(e, 1);
	}
}

/*
 * The undo records of the op being applied: each write first records the
 * value it replaces (or that there was none). A failed op's writes are put
 * back from them, newest first. Ops write straight into live: a nested
 * transaction per op would cost a merge of its dirty pages into live's,
 * which grows with everything since the checkpoint.
 */
static void
undo_record(int db, const MDB_val *k, const MDB_val *old)
{
	uint8_t	h[2];

	h[0] = (uint8_t)db;
	h[1] = old != NULL;
	buf_add(&undo, &k->mv_size, sizeof k->mv_size);
	buf_add(&undo, h, sizeof h);
	buf_add(&undo, k->mv_data, k->mv_size);
	if (old != NULL) {
		buf_add(&undo, &old->mv_size, sizeof old->mv_size);
		buf_add(&undo, old->mv_data, old->mv_size);
	}
}

/*
 * Put back what the op wrote (its undo records, each: key size, db,
 * had-an-old-value flag, key, [old size, old value]), newest first.
 * 0, or an LMDB error: live is not to be trusted.
 */
static int
undo_apply(void)
{
	MDB_txn	*lt = store_live();
	size_t	*off = NULL, n = 0, cap = 0, i, at;
	MDB_val	 k, v;
	int	 rc = 0, db, had;

	for (at = 0; at < undo.len;) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			off = xreallocarray(off, cap, sizeof *off);
		}
		off[n++] = at;
		memcpy(&k.mv_size, undo.p + at, sizeof k.mv_size);
		at += sizeof k.mv_size + 2 + k.mv_size;
		if (undo.p[at - k.mv_size - 1]) {
			memcpy(&v.mv_size, undo.p + at, sizeof v.mv_size);
			at += sizeof v.mv_size + v.mv_size;
		}
	}
	for (i = n; i > 0 && rc == 0; i--) {
		at = off[i - 1];
		memcpy(&k.mv_size, undo.p + at, sizeof k.mv_size);
		db = undo.p[at + sizeof k.mv_size];
		had = undo.p[at + sizeof k.mv_size + 1];
		k.mv_data = undo.p + at + sizeof k.mv_size + 2;
		if (had) {
			at += sizeof k.mv_size + 2 + k.mv_size;
			memcpy(&v.mv_size, undo.p + at, sizeof v.mv_size);
			v.mv_data = undo.p + at + sizeof v.mv_size;
			rc = mdb_put(lt, store_dbi(db), &k, &v, 0);
		} else if ((rc = mdb_del(lt, store_dbi(db), &k, NULL)) ==
		    MDB_NOTFOUND)
			rc = 0;
	}
	free(off);
	undo.len = 0;
	return rc;
}

/*
 * HA's leader: the turn's records, with the stream's position they will
 * end at (meta "ha_seq", so a standby's storage says where it stands),
 * appended to the partition's stream before anything else; a node that
 * may not append abdicates (ha.c).
 */
static void
turn_replicate(void)
{
	struct txn	 t = { .mdb = store_live() };
	const uint8_t	*p;
	size_t		 len;
	uint8_t		 v[8];

	redo_records(&p, &len);
	/* with the stamp: a record head, its key and value */
	be64_put(v, ha_js_seq_after(len + 8 + sizeof HA_SEQ_KEY - 1 + 8));
	if (store_put(&t, DB_META, HA_SEQ_KEY, sizeof HA_SEQ_KEY - 1, v, 8) !=
	    0)
		ha_js_abdicate("storage failed");
	redo_records(&p, &len);
	if (ha_js_publish(p, len) == -1)
		ha_js_abdicate("the stream did not take a commit");
}

/*
 * Make the turn's writes (its frame in the redo log) durable. 0, or an
 * error: the writes are gone (live is dropped, and the log without them
 * checkpointed).
 */
static int
turn_commit(void)
{
	unsigned int	flags = 0;
	int		rc, rc2 = 0, tries;

	if (redo_empty())		/* reads only: nothing to wait for */
		return 0;
	turns++;
	if (ha_replicating())
		turn_replicate();
	mdb_env_get_flags(store_env(), &flags);
	/* HA: the stream is what is durable; a node that loses the tail of
	 * its log applies it again from there (ha.c). */
	rc = redo_write(!(flags & MDB_NOSYNC) && !cfg->ha);
	/*
	 * HA: the stream has taken the turn, and a standby applies it. Its
	 * ops answered as failed would be a lie, and this node would lead on
	 * without what the stream has: it goes, to come back as a standby
	 * that applies the turn from the stream (a full disk: the log has no
	 * room, and LMDB none either).
	 */
	if (rc == ENOSPC) {	/* no room in the log: LMDB's own commit */
		if ((rc = store_checkpoint()) != 0 && ha_replicating())
			ha_js_abdicate("storage failed after the stream took "
			    "a commit");
		return rc;
	}
	if (rc != 0 && ha_replicating())
		ha_js_abdicate("the redo log failed");
	if (rc != 0) {
		/*
		 * The frame may be on disk all the same, and a crash would
		 * apply it: before its ops are answered as failed, its
		 * generation ends (a checkpoint of the log without it). If
		 * even that fails, what is on disk is unknown: stop, answer
		 * nothing, and let the next start read it.
		 */
		store_live_drop();
		for (tries = 0; tries < 2; tries++)	/* once more: MAP_FULL */
			if ((rc2 = store_live_begin()) == 0 &&
			    (rc2 = store_checkpoint()) == 0)
				break;
		if (rc2 != 0)
			fatalx("storage: a redo log frame failed to be written "
			    "(%s) and no checkpoint could replace it (%s)",
			    strerror(rc), mdb_strerror(rc2));
	}
	return rc;
}

/*
 * Apply batch's ops in live, in order, and after the rest the ops each
 * chains (txn_then()); a failed op's writes are undone. The ops applied go
 * to tn->done, the effects of those that stand to tn->effects; the ops not
 * applied stay in batch (MAP_FULL, or live left unusable).
 */
static void
turn_apply(struct ops *batch, struct turn *tn)
{
	struct txn	 t;
	struct op	*op;
	MDB_val		 k = { 14, "schema_version" }, v;
	size_t		 mark;
	int		 rc;

	redo_begin();
	in_turn = 1;
	t.mdb = store_live();
	while ((op = TAILQ_FIRST(batch)) != NULL) {
		STAILQ_INIT(&t.effects);
		TAILQ_INIT(&t.then);
		mark = redo_mark();
		undo.len = 0;
		if ((rc = op->apply(op, &t)) != 0) {
			redo_rewind(mark);
			/* Undone, and live still takes reads (an LMDB error
			 * such as MAP_FULL leaves the transaction unusable)? */
			if (undo_apply() != 0 ||
			    mdb_get(t.mdb, store_dbi(DB_META), &k, &v) != 0)
				tn->broken = 1;
		}
		if (rc == MDB_MAP_FULL && store_map_can_grow()) {
			effects_drop(&t.effects, 0);
			ops_free(&t.then);
			tn->grow = 1;
			break;	/* this op and the rest go back to pending */
		}
		TAILQ_REMOVE(batch, op, entry);
		if (rc == 0) {
			STAILQ_CONCAT(&tn->effects, &t.effects);
			TAILQ_CONCAT(batch, &t.then, entry);
		} else {
			effects_drop(&t.effects, 0);
			ops_free(&t.then);
		}
		if (tn->n == tn->cap) {
			tn->cap = tn->cap == 0 ? 64 : tn->cap * 2;
			tn->done = xreallocarray(tn->done, tn->cap,
			    sizeof *tn->done);
		}
		tn->done[tn->n].op = op;
		tn->done[tn->n].rc = rc;
		tn->n++;
		if (tn->broken)
			break;	/* the rest wait for a live rebuilt */
	}
	in_turn = 0;
}

/*
 * Answer the turn's ops applied: when the commit (rc) stood, their effects
 * run and each op is freed, or fails with its own error; else every one
 * fails with rc.
 */
static void
turn_answer(struct turn *tn, int rc)
{
	size_t	i;

	if (rc != 0) {
		log_warnx("storage: commit of %zu ops failed: %s", tn->n,
		    mdb_strerror(rc));
		effects_drop(&tn->effects, 0);
		for (i = 0; i < tn->n; i++)
			if (tn->done[i].rc == 0)
				tn->done[i].rc = rc;
	} else
		effects_drop(&tn->effects, 1);
	for (i = 0; i < tn->n; i++) {
		if (tn->done[i].rc == 0)
			tn->done[i].op->free(tn->done[i].op);
		else
			tn->done[i].op->fail(tn->done[i].op, tn->done[i].rc);
	}
	free(tn->done);
}

/* The flush event: apply every pending op in one transaction. */
static void
store_flush(evutil_socket_t fd, short what, void *arg)
{
	struct ops	 batch = TAILQ_HEAD_INITIALIZER(batch);
	struct turn	 tn;
	struct op	*op;
	int		 rc;

	(void)fd;
	(void)what;
	(void)arg;
	if (TAILQ_EMPTY(&pending))
		return;
	TAILQ_CONCAT(&pending, &lazy, entry);	/* they ride along */
	TAILQ_CONCAT(&batch, &pending, entry);
	if ((rc = store_live_begin()) != 0) {
		log_warnx("storage: begin: %s", mdb_strerror(rc));
		while ((op = TAILQ_FIRST(&batch)) != NULL) {
			TAILQ_REMOVE(&batch, op, entry);
			op->fail(op, rc);
		}
		return;
	}
	memset(&tn, 0, sizeof tn);
	STAILQ_INIT(&tn.effects);
	turn_apply(&batch, &tn);
	/* Ops not applied wait for the next turn, ahead of newer ones. */
	TAILQ_CONCAT(&batch, &pending, entry);
	TAILQ_CONCAT(&pending, &batch, entry);

	rc = tn.broken && redo_empty() ? 0 : turn_commit();
	/* Before the effects, which may read: the next reader or turn
	 * replays the log into a new live. */
	if (tn.broken || tn.grow)
		store_live_drop();
	if (tn.grow)
		store_map_grow();	/* only with no transaction */
	turn_answer(&tn, rc);
	buf_reset(&undo, BUF_KEEP);	/* after a big op (a retention sweep) */
	if (redo_bytes() >= CKPT_BYTES)
		store_checkpoint();
	if (!TAILQ_EMPTY(&pending))
		event_active(flush_ev, 0, 0);
}

/* ------------------------------------------------------------ writes */

/* The LMDB transaction an op writes in (live). */
MDB_txn *
store_mdb_txn(struct txn *t)
{
	return t->mdb;
}

/* Writes bypass the redo log (on) or not: a migration, which LMDB commits
 * itself (store-migrate.c). */
void
store_redo_bypass(int on)
{
	migrating = on;
}

/* Get a value; 0, MDB_NOTFOUND or an LMDB error. */
int
store_get(struct txn *t, int db, const void *key, size_t klen, MDB_val *v)
{
	MDB_val	k;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	return mdb_get(t->mdb, store_dbi(db), &k, v);
}

/* Put a value, recording its undo (in a turn) and its redo. 0 or an LMDB
 * error. */
int
store_put(struct txn *t, int db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val	k, v, old;
	int	rc;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	if (!in_turn)		/* replay: nothing to undo */
		rc = mdb_put(t->mdb, store_dbi(db), &k, &v, 0);
	else {
		/*
		 * The undo record without a search of its own for a new key
		 * (most writes): MDB_NOOVERWRITE puts it, or stops with old
		 * set to the value there, recorded before it is replaced.
		 */
		old = v;
		if ((rc = mdb_put(t->mdb, store_dbi(db), &k, &old,
		    MDB_NOOVERWRITE)) == 0)
			undo_record(db, &k, NULL);
		else if (rc == MDB_KEYEXIST) {
			undo_record(db, &k, &old);
			rc = mdb_put(t->mdb, store_dbi(db), &k, &v, 0);
		}
	}
	if (rc == 0 && !migrating)
		redo_put(db, &k, &v);
	return rc;
}

/* Delete a key; a missing key is not an error. */
int
store_del(struct txn *t, int db, const void *key, size_t klen)
{
	MDB_val	k, old;
	int	rc;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	if (!in_turn)
		rc = mdb_del(t->mdb, store_dbi(db), &k, NULL);
	else if ((rc = mdb_get(t->mdb, store_dbi(db), &k, &old)) == 0) {
		undo_record(db, &k, &old);
		rc = mdb_del(t->mdb, store_dbi(db), &k, NULL);
	}
	if (rc == 0 && !migrating)
		redo_del(db, &k);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete the entry cur (on database db) is at. 0 or an LMDB error. */
int
store_cursor_del(MDB_cursor *cur, int db)
{
	MDB_val	k, v;
	size_t	mark = redo_mark();
	int	rc;

	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) != 0)
		return rc;
	if (in_turn)
		undo_record(db, &k, &v);
	redo_del(db, &k);		/* k points into the page */
	if ((rc = mdb_cursor_del(cur, 0)) != 0)
		redo_rewind(mark);
	return rc;
}
