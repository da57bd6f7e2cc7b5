/*
 * queuetime.c: time in queue. A run submitted with max_queue_seconds gets
 * a deadline (run.queue_deadline_ms), an entry of the 'q' index
 * (runidx.c) and a timer (later.c). If the run is still queued when it
 * fires, it is CANCELLED with QUEUE_TIMEOUT (run_cancel_as(), run.c) and
 * leaves the queue to the next. A restart arms every timer again from the
 * index (queuetime_recover(), from recover.c).
 *
 * Loop thread only; the timer's op runs in a turn's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* The queue deadline of a run: its timer's op. */
struct qt_op {
	struct op	op;
	char		uuid[UUID_LEN + 1];
	int64_t		deadline;
};

static void	qt_defer(struct txn *, const char *, int64_t);

/*
 * The deadline passed: a run still queued is cancelled (QUEUE_TIMEOUT);
 * the index entry goes whatever became of the run.
 */
static int
qt_apply(struct op *op, struct txn *t)
{
	struct qt_op	*o = (struct qt_op *)op;
	struct run	 r;
	char		 text[128];
	int		 rc;

	if (now_ms() < o->deadline) {	/* the clock went back */
		qt_defer(t, o->uuid, o->deadline);
		return 0;
	}
	if ((rc = runidx_queue_deadline(t, o->uuid, o->deadline, 0)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, o->uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (r.status == RS_PENDING && r.queue_seq != 0 &&
	    r.queue_deadline_ms == o->deadline &&
	    (r.reason == R_RECENTLY_SUBMITTED || r.reason == R_IN_QUEUE)) {
		snprintf(text, sizeof text, "%s: not started within %u s "
		    "(max_queue_seconds)", reason_text(R_QUEUE_TIMEOUT),
		    r.config.max_queue_s);
		rc = run_cancel_as(t, &r, R_QUEUE_TIMEOUT, text);
	}
	run_free(&r);
	return rc;
}

/* The op could not commit: again in a second. */
static void
qt_fail(struct op *op, int rc)
{
	log_warnx("run=%s queue timeout not stored: %s; retrying",
	    ((struct qt_op *)op)->uuid, mdb_strerror(rc));
	later_retry(op);
}

/* Free a queue timer's op. */
static void
qt_free(struct op *op)
{
	free(op);
}

/* Committed: the queue timer of (uuid, deadline) waits for it. */
static void
qt_arm(void *arg)
{
	const struct qt_op	*a = arg;
	struct qt_op		*o;

	o = xcalloc(1, sizeof *o);
	o->op.apply = qt_apply;
	o->op.fail = qt_fail;
	o->op.free = qt_free;
	memcpy(o->uuid, a->uuid, sizeof o->uuid);
	o->deadline = a->deadline;
	later_submit(&o->op, o->deadline - now_ms());
}

/* Arm the queue timer of run uuid for deadline once t commits. */
static void
qt_defer(struct txn *t, const char *uuid, int64_t deadline)
{
	struct qt_op	*a;

	a = xcalloc(1, sizeof *a);
	snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
	a->deadline = deadline;
	txn_defer(t, qt_arm, a, free);
}

/*
 * Run r (not yet stored) enters its cluster's queue at from_ms (its
 * submission, or when its dependencies were met: depend.c): with
 * max_queue_seconds it gets its deadline, index entry and timer.
 * 0 or an LMDB error.
 */
int
queuetime_enter(struct txn *t, struct run *r, int64_t from_ms)
{
	int	rc;

	if (!r->config.has_max_queue)
		return 0;
	r->queue_deadline_ms = from_ms +
	    (int64_t)r->config.max_queue_s * 1000;
	if ((rc = runidx_queue_deadline(t, r->uuid, r->queue_deadline_ms,
	    1)) != 0)
		return rc;
	qt_defer(t, r->uuid, r->queue_deadline_ms);
	return 0;
}

struct recover_arg {
	struct txn	*t;
	size_t		 n;
};

/* One deadline of the index: its timer again. */
static void
recover_one(const char *uuid, int64_t deadline, void *arg)
{
	struct recover_arg	*a = arg;

	qt_defer(a->t, uuid, deadline);
	a->n++;
}

/* At start: arm the timer of every queue deadline stored. */
int
queuetime_recover(struct txn *t)
{
	struct recover_arg	a = { t, 0 };
	int			rc;

	if ((rc = runidx_walk_deadlines(t, recover_one, &a)) == 0 && a.n > 0)
		log_info("recovery: %zu queue deadlines armed", a.n);
	return rc;
}
