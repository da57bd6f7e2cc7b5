/*
 * policy.c: run policies.
 *
 * - Retries: after a failed attempt the run's retry strategy decides
 *   (policy_retries(), asked by run_finish() in run.c): the first rule
 *   matching the attempt's exit code or reason (RETRY still within
 *   num_retries; EXIT ends the run), else auto_retry_on_timeout for a
 *   TIMEOUT, else num_retries. The wait before retry k is
 *   retry_delay_seconds * backoff_multiplier^(k-1), at most
 *   max_retry_delay_seconds (and DELAY_MAX), plus up to 10 % jitter when
 *   the multiplier is above 1 (policy_delay_ms()).
 * - The checks of those fields (for definitions and for a submission's
 *   overrides), and the overrides applied to the run's configuration.
 * - Time in queue: a run submitted with max_queue_seconds gets a deadline
 *   (run.queue_deadline_ms), an entry of the 'q' index (runidx.c) and a
 *   timer (later.c). If the run is still queued when it fires, it is
 *   CANCELLED with QUEUE_TIMEOUT (run_cancel_as(), run.c) and leaves the
 *   queue to the next. A restart arms every timer again from the index
 *   (policy_recover(), from recover.c).
 *
 * Loop thread only; the queue timer's op runs in a turn's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* 32 random bits for the jitter; replaced by tests. */
uint32_t	(*policy_random)(void) = arc4random;

/* The reasons an attempt fails with: the ones a rule may name. */
#define FAIL_REASONS	(1u << R_NON_ZERO_EXIT | 1u << R_TIMEOUT |	\
	    1u << R_FETCH_FAILED | 1u << R_SPAWN_FAILED | 1u << R_SIGNALED |\
	    1u << R_SUPERVISOR_LOST)

/* ------------------------------------------------------------ checks */

/* Does rule u name no exit code? */
static int
codes_empty(const struct retryrule *u)
{
	size_t	i;

	for (i = 0; i < sizeof u->codes; i++)
		if (u->codes[i] != 0)
			return 0;
	return 1;
}

/* Check the rules of r; fields are named under prefix p. */
static int
rules_valid(const struct retry *r, const char *p, struct error *e)
{
	const struct retryrule	*u;
	char			 f[96];
	size_t			 i;

	for (i = 0; i < r->n_rules; i++) {
		u = &r->rules[i];
		if (u->action == RA_NONE) {
			snprintf(f, sizeof f, "%s.rules[%zu].action", p, i);
			error_set(e, E_INVALID, f, "%s is required: RETRY or "
			    "EXIT", f);
			return -1;
		}
		if ((u->reasons & ~FAIL_REASONS) != 0) {
			snprintf(f, sizeof f, "%s.rules[%zu].on_reasons", p, i);
			error_set(e, E_INVALID, f, "%s may hold only reasons an "
			    "attempt fails with: NON_ZERO_EXIT_CODE, TIMEOUT, "
			    "SOURCE_FETCH_FAILED, SPAWN_FAILED, "
			    "KILLED_BY_SIGNAL, SUPERVISOR_LOST", f);
			return -1;
		}
		if (u->reasons == 0 && codes_empty(u)) {
			snprintf(f, sizeof f, "%s.rules[%zu]", p, i);
			error_set(e, E_INVALID, f, "%s matches nothing: give "
			    "on_exit_codes or on_reasons", f);
			return -1;
		}
	}
	return 0;
}

/* Check a retry strategy; fields are named under prefix p. 0 or -1. */
int
policy_validate_retry(const struct retry *r, const char *p, struct error *e)
{
	char	f[96];

#define F(name)	(snprintf(f, sizeof f, "%s.%s", p, name), f)
	if (r->has_num && r->num_retries > RETRIES_MAX) {
		error_set(e, E_INVALID, F("num_retries"), "%s may be at most "
		    "%d", f, RETRIES_MAX);
		return -1;
	}
	if (r->has_delay && r->delay_s > DELAY_MAX) {
		error_set(e, E_INVALID, F("retry_delay_seconds"), "%s may be "
		    "at most %d", f, DELAY_MAX);
		return -1;
	}
	/* Written so that a NaN fails too. */
	if (r->has_multiplier && !(r->multiplier >= 1 &&
	    r->multiplier <= BACKOFF_MAX)) {
		error_set(e, E_INVALID, F("backoff_multiplier"), "%s must be "
		    "from 1 to %d", f, BACKOFF_MAX);
		return -1;
	}
	if (r->has_max_delay && (r->max_delay_s == 0 ||
	    r->max_delay_s > DELAY_MAX)) {
		error_set(e, E_INVALID, F("max_retry_delay_seconds"), "%s must "
		    "be from 1 to %d", f, DELAY_MAX);
		return -1;
	}
	return rules_valid(r, p, e);
#undef F
}

/* Check max_queue_seconds (if has) named field. 0 or -1. */
int
policy_validate_max_queue(int has, uint32_t v, const char *field,
    struct error *e)
{
	if (has && (v == 0 || v > MAX_QUEUE_MAX)) {
		error_set(e, E_INVALID, field, "%s must be from 1 to %d", field,
		    MAX_QUEUE_MAX);
		return -1;
	}
	return 0;
}

/* Check run.submit's overrides of its definition's configuration. */
int
policy_validate_overrides(const struct request *q, struct error *e)
{
	if (q->has_timeout && (q->timeout_s == 0 ||
	    q->timeout_s > TIMEOUT_MAX)) {
		error_set(e, E_INVALID, "timeout_seconds", "timeout_seconds "
		    "must be from 1 to %d", TIMEOUT_MAX);
		return -1;
	}
	if (q->has_retry && policy_validate_retry(&q->retry, "retry_strategy",
	    e) == -1)
		return -1;
	return policy_validate_max_queue(q->has_max_queue, q->max_queue_s,
	    "max_queue_seconds", e);
}

/* Apply run.submit's overrides (checked) to the run's configuration c. */
void
policy_apply_overrides(struct jobconfig *c, const struct request *q)
{
	const struct retry	*o = &q->retry;
	struct retry		*r = &c->retry;

	if (q->has_timeout) {
		c->timeout_s = q->timeout_s;
		c->has_timeout = 1;
	}
	if (q->has_max_queue) {
		c->max_queue_s = q->max_queue_s;
		c->has_max_queue = 1;
	}
	if (!q->has_retry)
		return;
	if (o->has_num) {
		r->num_retries = o->num_retries;
		r->has_num = 1;
	}
	if (o->has_delay) {
		r->delay_s = o->delay_s;
		r->has_delay = 1;
	}
	if (o->has_on_timeout) {
		r->on_timeout = o->on_timeout;
		r->has_on_timeout = 1;
	}
	if (o->has_multiplier) {
		r->multiplier = o->multiplier;
		r->has_multiplier = 1;
	}
	if (o->has_max_delay) {
		r->max_delay_s = o->max_delay_s;
		r->has_max_delay = 1;
	}
	if (o->n_rules > 0) {
		memcpy(r->rules, o->rules, sizeof r->rules);
		r->n_rules = o->n_rules;
	}
}

/* ------------------------------------------------------------ retries */

/* Does rule u match an attempt (a: its record) that failed with why? */
static int
rule_match(const struct retryrule *u, const struct attempt *a,
    enum reason why)
{
	if (a != NULL && a->has_exit && a->exit_code > 0 &&
	    a->exit_code < 256 &&
	    (u->codes[a->exit_code / 8] & 1u << (a->exit_code % 8)) != 0)
		return 1;
	return (unsigned)why < 32 && (u->reasons & 1u << why) != 0;
}

/*
 * Attempt n failed with why (a: its record, or NULL): is there another?
 * The first rule matching decides, its index into *rule (else -1);
 * without one, a TIMEOUT is retried only with auto_retry_on_timeout and
 * any other failure while num_retries allows.
 */
int
policy_retries(const struct retry *r, uint32_t n, const struct attempt *a,
    enum reason why, int *rule)
{
	int	left = n < 1 + r->num_retries;
	size_t	i;

	*rule = -1;
	for (i = 0; i < r->n_rules; i++)
		if (rule_match(&r->rules[i], a, why)) {
			*rule = (int)i;
			return r->rules[i].action == RA_RETRY && left;
		}
	if (why == R_TIMEOUT)
		return r->on_timeout && left;
	return left;
}

/*
 * The wait before retry k (1: the first), in ms: retry_delay_seconds *
 * backoff_multiplier^(k-1), at most max_retry_delay_seconds (and
 * DELAY_MAX), plus up to 10 % jitter when the multiplier is above 1.
 */
int64_t
policy_delay_ms(const struct retry *r, uint32_t k)
{
	double		d = (double)r->delay_s * 1000;
	double		cap = (double)DELAY_MAX * 1000;
	double		m = r->has_multiplier ? r->multiplier : 1;
	uint32_t	i;

	if (r->has_max_delay && (double)r->max_delay_s * 1000 < cap)
		cap = (double)r->max_delay_s * 1000;
	for (i = 1; i < k && d < cap && m > 1; i++)
		d *= m;
	if (d > cap)
		d = cap;
	if (m > 1)
		d += d / 10 * ((double)policy_random() / 4294967296.0);
	return (int64_t)d;
}

/* ------------------------------------------------------------ time in queue */

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
 * Run r (submitted_ms set, not yet stored) enters its cluster's queue:
 * with max_queue_seconds it gets its deadline, index entry and timer.
 * 0 or an LMDB error.
 */
int
policy_queue_enter(struct txn *t, struct run *r)
{
	int	rc;

	if (!r->config.has_max_queue)
		return 0;
	r->queue_deadline_ms = r->submitted_ms +
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
policy_recover(struct txn *t)
{
	struct recover_arg	a = { t, 0 };
	int			rc;

	if ((rc = runidx_walk_deadlines(t, recover_one, &a)) == 0 && a.n > 0)
		log_info("recovery: %zu queue deadlines armed", a.n);
	return rc;
}
