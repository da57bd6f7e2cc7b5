/*
 * run.c: the run state machine.
 *
 * Statuses (set only by run_set_status(), which checks the transition,
 * logs it, stores the event in the run's history and defers its
 * publication):
 *
 *   (new) -> PENDING     Recently submitted | In queue
 *   PENDING -> RUNNING   an attempt starts (run_start())
 *   RUNNING -> PENDING   Waiting to retry: the attempt failed and the
 *                        retry strategy says so (policy.c)
 *   RUNNING -> SUCCEEDED | FAILED | CANCELLED (run_finish())
 *   PENDING -> CANCELLED | FAILED   (CANCELLED also for QUEUE_TIMEOUT:
 *                        policy.c)
 *
 * A cluster holds at most one run (cluster.active_run) from the start of its
 * first attempt until its last attempt's process is gone, retry delays
 * included; the others wait in the cluster's queue (queue.c). Starting the
 * next run is an op of its own (run_kick()), applied after the op that
 * freed or filled the cluster, in the same turn and commit. The verbs that
 * drive this are in runverb.c, the indexes it keeps in runidx.c, what a
 * restart finds in recover.c.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* ------------------------------------------------------------ effects */

/* A committed transition, for the metrics. */
struct transition {
	enum rstatus	 status;
	enum reason	 reason;
};

static void
transition_cb(void *arg)
{
	struct transition *tr = arg;

	metrics_transition(tr->status, tr->reason);
}

/* A deep copy of r, through its record encoding. */
static struct run *
run_dup(const struct run *r)
{
	struct run	*c;
	struct buf	 b = { 0 };

	c = xcalloc(1, sizeof *c);
	wire_encode_run(&b, r);
	if (wire_decode_run(b.p, b.len, c) == -1)
		fatalx("run_dup: record does not decode");
	buf_free(&b);
	return c;
}

static void	run_heap_free(void *);

/* What the spawn after the commit needs: the run, as whom its job runs. */
struct start_arg {
	struct run	*r;
	struct jobident	 id;
};

static void
start_cb(void *arg)
{
	struct start_arg	*s = arg;

	exec_start(s->r, &s->id, run_attempt_ended, run_note);
}

static void
start_free(void *arg)
{
	struct start_arg	*s = arg;

	run_heap_free(s->r);
	free(s->id.error);
	free(s);
}

static void
run_heap_free(void *arg)
{
	run_free(arg);
	free(arg);
}

struct kill_arg {
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
};

static void
kill_cb(void *arg)
{
	struct kill_arg	*k = arg;

	exec_kill(k->uuid, k->attempt);
}

/* ------------------------------------------------------------ status */

/* May a run go from status from to status to? */
static int
legal(enum rstatus from, enum rstatus to)
{
	switch (from) {
	case RS_NONE:
		return to == RS_PENDING;
	case RS_PENDING:
		return to == RS_RUNNING || to == RS_CANCELLED ||
		    to == RS_FAILED;
	case RS_RUNNING:
		return to == RS_PENDING || rstatus_terminal(to);
	default:
		return 0;
	}
}

/*
 * The only place a run's status changes. Updates the run (not yet stored:
 * the caller puts it), its status index and history, and puts the event in
 * the outbox, all in t.
 * An illegal transition is a bug: it is logged and nothing changes.
 */
int
run_set_status(struct txn *t, struct run *r, enum rstatus to, enum reason why,
    const char *text)
{
	struct runevent	 ev;
	struct transition *tr;
	struct buf	 b = { 0 };
	char		*subject, msgid[UUID_LEN + 24];
	uint8_t		 key[16];
	int		 rc;

	if (!legal(r->status, to)) {
		log_warnx("run=%s illegal transition %s -> %s ignored", r->uuid,
		    rstatus_name(r->status), rstatus_name(to));
		return 0;
	}
	log_info("run=%s ws=%s cluster=%s attempt=%u %s -> %s reason=\"%s\"",
	    r->uuid, r->ws, r->cluster_uuid, r->attempt,
	    rstatus_name(r->status), rstatus_name(to),
	    text != NULL ? text : reason_text(why));
	if (r->status != RS_NONE &&
	    (rc = runidx_del(t, 's', r->ws, r->status, r)) != 0)
		return rc;
	if ((rc = runidx_put(t, 's', r->ws, to, r)) != 0)
		return rc;

	memset(&ev, 0, sizeof ev);
	memcpy(ev.run_uuid, r->uuid, sizeof ev.run_uuid);
	memcpy(ev.def_uuid, r->def_uuid, sizeof ev.def_uuid);
	memcpy(ev.cluster_uuid, r->cluster_uuid, sizeof ev.cluster_uuid);
	ev.ws = r->ws;
	ev.prev = r->status;
	ev.status = to;
	ev.reason = why;
	ev.reason_text = (char *)(text != NULL ? text : reason_text(why));
	ev.attempt = r->attempt;
	ev.seq = ++r->event_seq;
	ev.at_ms = now_ms();
	if (r->n_attempts > 0 && to != RS_RUNNING &&
	    r->attempts[r->n_attempts - 1].finished_ms != 0) {
		const struct attempt *a = &r->attempts[r->n_attempts - 1];

		ev.has_exit = a->has_exit;
		ev.exit_code = a->exit_code;
		ev.has_usage = 1;
		ev.usage = a->usage;
	}

	r->status = to;
	r->reason = why;
	free(r->reason_text);
	r->reason_text = xstrdup(ev.reason_text);
	if (rstatus_terminal(to)) {
		r->finished_ms = ev.at_ms;
		if ((rc = runidx_finished(t, r, 1)) != 0 ||
		    (r->sched_uuid[0] != '\0' &&
		    (rc = runidx_del(t, 'l', r->sched_uuid, 0, r)) != 0) ||
		    (rc = depend_ended(t, r)) != 0)
			return rc;
	}

	wire_encode_event(&b, &ev);
	store_event_key(key, r->id, ev.seq);
	xasprintf(&subject, "%s.v1.%s.status.%s.%s", cfg->subject_prefix,
	    r->ws, r->cluster_uuid, r->uuid);
	snprintf(msgid, sizeof msgid, "%s:%llu", r->uuid,
	    (unsigned long long)ev.seq);
	if ((rc = store_put(t, DB_EVENTS, key, sizeof key, b.p, b.len)) == 0 &&
	    (rc = outbox_put(t, subject, msgid, b.p, b.len)) == 0) {
		tr = xcalloc(1, sizeof *tr);
		tr->status = to;
		tr->reason = why;
		txn_defer(t, transition_cb, tr, free);
	}
	free(subject);
	buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------ dispatch */

struct kick_op {
	struct op	op;
	char		cluster[UUID_LEN + 1];
};

/* Start attempt n+1 of r (which holds its cluster) and defer the spawn. */
int
run_start(struct txn *t, struct run *r)
{
	struct attempt		*a;
	struct start_arg	*s;
	int64_t			 now = now_ms();
	int			 rc;

	/* The job's uid is committed with the attempt, before its spawn. */
	s = xcalloc(1, sizeof *s);
	if ((rc = identity_take(t, r, &s->id)) != 0) {
		free(s);
		return rc;
	}
	r->attempts = xreallocarray(r->attempts, r->n_attempts + 1,
	    sizeof *r->attempts);
	a = &r->attempts[r->n_attempts++];
	memset(a, 0, sizeof *a);
	a->n = ++r->attempt;
	a->status = RS_RUNNING;
	a->reason = R_RUNNING;
	a->reason_text = xstrdup(reason_text(R_RUNNING));
	a->started_ms = now;
	if (r->started_ms == 0)
		r->started_ms = now;
	r->deadline_ms = now + (int64_t)r->config.timeout_s * 1000;
	r->retry_at_ms = 0;
	r->queue_seq = 0;
	if ((rc = run_set_status(t, r, RS_RUNNING, R_RUNNING, NULL)) != 0 ||
	    (rc = store_put_run(t, r)) != 0) {
		free(s->id.error);
		free(s);
		return rc;
	}
	s->r = run_dup(r);
	txn_defer_late(t, start_cb, s, start_free);
	return 0;
}

/* Take the head of the cluster's queue, if the cluster may start it. */
static int
kick_apply(struct op *op, struct txn *t)
{
	struct kick_op	*k = (struct kick_op *)op;
	struct cluster	 c;
	struct run	 r;
	char		 uuid[UUID_LEN + 1];
	int		 rc;

	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	if ((rc = store_get_cluster(t, k->cluster, &c)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if ((rc = depend_admit(t, &c)) != 0)
		goto out;
	if (c.state == CL_PAUSED || c.active_run[0] != '\0' || c.queued == 0 ||
	    loop_stopping())
		goto out;
	rc = queue_take(t, c.uuid, uuid);
	if (rc == MDB_NOTFOUND) {
		log_warnx("cluster=%s queued=%u but its queue is empty; "
		    "repaired", c.uuid, c.queued);
		c.queued = 0;
		rc = store_put_cluster(t, &c);
		goto out;
	}
	if (rc != 0)
		goto out;
	c.queued--;
	if ((rc = store_get_run(t, uuid, &r)) != 0 || r.status != RS_PENDING) {
		/* Not runnable: drop it from the queue and look again. */
		if (rc == 0 || rc == MDB_NOTFOUND) {
			rc = store_put_cluster(t, &c);
			run_kick(t, c.uuid);
		}
		goto out;
	}
	memcpy(c.active_run, r.uuid, sizeof c.active_run);
	if ((rc = store_put_cluster(t, &c)) == 0)
		rc = run_start(t, &r);
out:
	run_free(&r);
	cluster_free(&c);
	return rc;
}

/* A kick that could not commit is tried again after a second. */
static void
kick_fail(struct op *op, int rc)
{
	log_warnx("cluster=%s dispatch failed: %s; retrying",
	    ((struct kick_op *)op)->cluster, mdb_strerror(rc));
	later_retry(op);
}

/* Free an op of this file (all are one block). */
static void
op_free(struct op *op)
{
	free(op);
}

/*
 * Later in t's turn, in the same commit, see whether the cluster can start
 * its next run: a submission to an idle cluster or the end of a run costs
 * one sync, not two.
 */
void
run_kick(struct txn *t, const char *cluster)
{
	struct kick_op	*k;

	k = xcalloc(1, sizeof *k);
	k->op.apply = kick_apply;
	k->op.fail = kick_fail;
	k->op.free = op_free;
	snprintf(k->cluster, sizeof k->cluster, "%s", cluster);
	txn_then(t, &k->op);
}

/* ------------------------------------------------------------ ending */

/*
 * The run no longer holds its cluster: free it (or delete an ephemeral),
 * and pause it if the run's schedule says so.
 */
static int
run_release(struct txn *t, const struct run *r)
{
	struct cluster	c;
	int		rc;

	memset(&c, 0, sizeof c);
	if ((rc = store_get_cluster(t, r->cluster_uuid, &c)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (strcmp(c.active_run, r->uuid) == 0)
		c.active_run[0] = '\0';
	if (r->pause_when_finished && !c.ephemeral && c.state == CL_RUNNING &&
	    rstatus_terminal(r->status)) {
		c.state = CL_PAUSED;
		log_info("cluster paused when its run finished ws=%s cluster=%s "
		    "run=%s schedule=%s", c.ws, c.uuid, r->uuid, r->sched_uuid);
	}
	if (c.ephemeral && c.queued == 0 && c.active_run[0] == '\0')
		rc = cluster_remove(t, &c);
	else {
		rc = store_put_cluster(t, &c);
		run_kick(t, c.uuid);
	}
	cluster_free(&c);
	return rc;
}

/* Write the finished attempt's record from its result. */
static void
attempt_record(struct run *r, const struct result *res, enum rstatus st,
    enum reason why, const char *text)
{
	struct attempt	*a;

	if (r->n_attempts == 0)
		return;
	a = &r->attempts[r->n_attempts - 1];
	a->finished_ms = now_ms();
	a->status = st;
	a->reason = why;
	free(a->reason_text);
	a->reason_text = xstrdup(text);
	if (res->reason == R_NONE && WIFEXITED(res->waitstatus)) {
		a->has_exit = 1;
		a->exit_code = WEXITSTATUS(res->waitstatus);
	} else if (res->reason == R_NONE && WIFSIGNALED(res->waitstatus))
		a->sig = WTERMSIG(res->waitstatus);
	a->usage = res->usage;
	r->usage = res->usage;
	r->has_exit = a->has_exit;
	r->exit_code = a->exit_code;
}

/* Count the finished attempt's output into the run and the total. */
static int
attempt_log_bytes(struct txn *t, struct run *r)
{
	struct stat	 st;
	uint64_t	 n = 0;
	char		*path;
	int		 i;

	for (i = LS_STDOUT; i <= LS_STDERR; i++) {
		path = logs_path(r->uuid, r->attempt, i);
		if (stat(path, &st) == 0)
			n += (uint64_t)st.st_size;
		free(path);
	}
	r->log_bytes += n;
	return store_counter_add(t, "log_bytes", (int64_t)n, NULL);
}

struct retry_op {
	struct op	op;
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
};

/*
 * The attempt of r failed with why (its record written, text what users
 * read of it, of len bytes): the retry strategy (policy.c) says whether it
 * is retried after a delay, else the run is FAILED.
 */
static int
run_failed(struct txn *t, struct run *r, enum reason why, char *text,
    size_t len)
{
	const struct retry	*rs = &r->config.retry;
	uint32_t		 max = 1 + rs->num_retries;
	int64_t			 ms;
	char			 delay[48];
	size_t			 n = strlen(text);
	int			 rc, rule;

	if (!policy_retries(rs, r->attempt, r->n_attempts > 0 ?
	    &r->attempts[r->n_attempts - 1] : NULL, why, &rule)) {
		if (rule >= 0 && rs->rules[rule].action == RA_EXIT)
			snprintf(text + n, len - n, "; not retried: retry rule "
			    "%d says EXIT", rule + 1);
		if ((rc = run_set_status(t, r, RS_FAILED, why, text)) != 0 ||
		    (rc = store_put_run(t, r)) != 0)
			return rc;
		return run_release(t, r);
	}
	ms = policy_delay_ms(rs, r->attempt);
	if (ms % 1000 == 0)
		snprintf(delay, sizeof delay, "%llds", (long long)(ms / 1000));
	else
		snprintf(delay, sizeof delay, "%lld.%03llds",
		    (long long)(ms / 1000), (long long)(ms % 1000));
	snprintf(text + n, len - n, "; %s (attempt %u of %u in %s)",
	    reason_text(R_RETRY_PENDING), r->attempt + 1, max, delay);
	r->retry_at_ms = now_ms() + ms;
	if ((rc = run_set_status(t, r, RS_PENDING, R_RETRY_PENDING, text)) !=
	    0 || (rc = store_put_run(t, r)) != 0)
		return rc;
	run_retry(t, r->uuid, r->attempt, ms);
	return 0;
}

/*
 * The attempt of r ended with res: decide SUCCEEDED, FAILED, a retry, or,
 * when the run was cancelled meanwhile, only free its cluster.
 */
int
run_finish(struct txn *t, struct run *r, const struct result *res)
{
	enum rstatus	 st;
	enum reason	 why;
	char		 text[384], sig[32];
	int		 rc;

	if ((rc = attempt_log_bytes(t, r)) != 0)
		return rc;
	if (rstatus_terminal(r->status)) {
		attempt_record(r, res, r->status, r->reason,
		    r->reason_text != NULL ? r->reason_text : "");
		if ((rc = store_put_run(t, r)) != 0)
			return rc;
		return run_release(t, r);
	}
	if (res->reason != R_NONE) {
		st = RS_FAILED;
		why = res->reason;
		snprintf(text, sizeof text, "%s: %s", reason_text(why),
		    res->text);
	} else if (res->timed_out) {
		st = RS_FAILED;
		why = R_TIMEOUT;
		snprintf(text, sizeof text, "%s", reason_text(why));
	} else if (WIFEXITED(res->waitstatus) &&
	    WEXITSTATUS(res->waitstatus) == 0) {
		st = RS_SUCCEEDED;
		why = R_NONE;
		text[0] = '\0';
	} else if (WIFEXITED(res->waitstatus)) {
		st = RS_FAILED;
		why = R_NON_ZERO_EXIT;
		snprintf(text, sizeof text, "%s", reason_text(why));
	} else {
		st = RS_FAILED;
		why = R_SIGNALED;
		snprintf(sig, sizeof sig, "%s",
		    WIFSIGNALED(res->waitstatus) ?
		    sigabbrev_np(WTERMSIG(res->waitstatus)) : "?");
		snprintf(text, sizeof text, "%s: SIG%s", reason_text(why),
		    sig);
	}
	attempt_record(r, res, st, why, text);
	if (st == RS_FAILED)
		return run_failed(t, r, why, text, sizeof text);
	if ((rc = run_set_status(t, r, st, why, text[0] != '\0' ? text : NULL)) !=
	    0 || (rc = store_put_run(t, r)) != 0)
		return rc;
	return run_release(t, r);
}

struct ended_op {
	struct op	op;
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
	struct result	res;
};

/* The attempt's end, stored: the run goes on, ends or waits to retry. */
static int
ended_apply(struct op *op, struct txn *t)
{
	struct ended_op	*o = (struct ended_op *)op;
	struct run	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, o->uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (r.attempt == o->attempt && (r.status == RS_RUNNING ||
	    (rstatus_terminal(r.status) && r.n_attempts > 0 &&
	    r.attempts[r.n_attempts - 1].finished_ms == 0)))
		rc = run_finish(t, &r, &o->res);
	run_free(&r);
	return rc;
}

/* The end of an attempt could not commit: try again in a second. */
static void
ended_fail(struct op *op, int rc)
{
	log_warnx("run=%s end of attempt not stored: %s; retrying",
	    ((struct ended_op *)op)->uuid, mdb_strerror(rc));
	later_retry(op);
}

/* An op about attempt (uuid, attempt) carrying res, submitted. */
static void
attempt_op(int (*apply)(struct op *, struct txn *),
    void (*fail)(struct op *, int), const char *uuid, uint32_t attempt,
    const struct result *res)
{
	struct ended_op	*o;

	o = xcalloc(1, sizeof *o);
	o->op.apply = apply;
	o->op.fail = fail;
	o->op.free = op_free;
	snprintf(o->uuid, sizeof o->uuid, "%s", uuid);
	o->attempt = attempt;
	o->res = *res;
	store_submit(&o->op);
}

/* exec.c: an attempt's process is gone and its output is read. */
void
run_attempt_ended(const char *uuid, uint32_t attempt, const struct result *res)
{
	attempt_op(ended_apply, ended_fail, uuid, attempt, res);
}

/* A note of the attempt's backend: the RUNNING run's reason_text. */
static int
note_apply(struct op *op, struct txn *t)
{
	struct ended_op	*o = (struct ended_op *)op;
	struct run	 r;
	const char	*text = o->res.text;
	int		 rc;

	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, o->uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (r.attempt == o->attempt && r.status == RS_RUNNING) {
		if (*text == '\0')
			text = reason_text(r.reason);
		if (r.reason_text == NULL || strcmp(r.reason_text, text) != 0) {
			log_info("run=%s attempt=%u reason_text=\"%s\"", r.uuid,
			    r.attempt, text);
			free(r.reason_text);
			r.reason_text = xstrdup(text);
			rc = store_put_run(t, &r);
		}
	}
	run_free(&r);
	return rc;
}

/* A note could not commit: it is dropped (the next one says it again). */
static void
note_fail(struct op *op, int rc)
{
	log_warnx("run=%s note not stored: %s",
	    ((struct ended_op *)op)->uuid, mdb_strerror(rc));
	free(op);
}

/* exec.c: the attempt's backend says what the job waits for ("": no more). */
void
run_note(const char *uuid, uint32_t attempt, const char *text)
{
	struct result	res;

	memset(&res, 0, sizeof res);
	snprintf(res.text, sizeof res.text, "%s", text);
	attempt_op(note_apply, note_fail, uuid, attempt, &res);
}

/* The retry delay of attempt has passed: start the next attempt. */
static int
retry_apply(struct op *op, struct txn *t)
{
	struct retry_op	*o = (struct retry_op *)op;
	struct run	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, o->uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (r.status == RS_PENDING && r.reason == R_RETRY_PENDING &&
	    r.attempt == o->attempt && !loop_stopping())
		rc = run_start(t, &r);
	run_free(&r);
	return rc;
}

/* A retry could not commit: try again in a second. */
static void
retry_fail(struct op *op, int rc)
{
	log_warnx("run=%s retry not stored: %s; retrying",
	    ((struct retry_op *)op)->uuid, mdb_strerror(rc));
	later_retry(op);
}

struct retry_arg {
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
	int64_t		ms;
};

/* t committed: the retry's op waits out the delay. */
static void
retry_arm(void *arg)
{
	struct retry_arg	*a = arg;
	struct retry_op		*o;

	o = xcalloc(1, sizeof *o);
	o->op.apply = retry_apply;
	o->op.fail = retry_fail;
	o->op.free = op_free;
	memcpy(o->uuid, a->uuid, sizeof o->uuid);
	o->attempt = a->attempt;
	later_submit(&o->op, a->ms);
}

/* Arm the retry timer of attempt of run uuid once t commits: ms from then. */
void
run_retry(struct txn *t, const char *uuid, uint32_t attempt, int64_t ms)
{
	struct retry_arg	*a;

	a = xcalloc(1, sizeof *a);
	snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
	a->attempt = attempt;
	a->ms = ms;
	txn_defer(t, retry_arm, a, free);
}

/* ------------------------------------------------------------ cancel */

/* Cancel r (not terminal) by the user; r is stored by this function. */
int
run_cancel_one(struct txn *t, struct run *r)
{
	return run_cancel_as(t, r, R_CANCELLED_BY_USER, NULL);
}

/*
 * Cancel r (not terminal) for why (text: what users read, NULL: why's
 * words); r is stored by this function. A queued run leaves its queue; a
 * running one is killed, and frees its cluster when its process is gone.
 */
int
run_cancel_as(struct txn *t, struct run *r, enum reason why,
    const char *text)
{
	struct cluster	 c;
	struct kill_arg	*k;
	int		 rc, holds, was_running = r->status == RS_RUNNING;

	memset(&c, 0, sizeof c);
	if ((rc = store_get_cluster(t, r->cluster_uuid, &c)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	holds = rc == 0 && strcmp(c.active_run, r->uuid) == 0;
	if (rc == 0 && !holds && r->queue_seq != 0) {
		if ((rc = queue_del(t, c.uuid, r->queue_seq)) != 0)
			goto out;
		if (c.queued > 0)
			c.queued--;
		r->queue_seq = 0;
		if ((rc = depend_admit(t, &c)) != 0 ||
		    (rc = store_put_cluster(t, &c)) != 0)
			goto out;
	}
	rc = 0;
	if ((rc = run_set_status(t, r, RS_CANCELLED, why, text)) != 0 ||
	    (rc = store_put_run(t, r)) != 0)
		goto out;
	if (was_running) {
		/* The cluster is freed when the process is gone. */
		k = xcalloc(1, sizeof *k);
		memcpy(k->uuid, r->uuid, sizeof k->uuid);
		k->attempt = r->attempt;
		txn_defer_late(t, kill_cb, k, free);
	} else if (holds || c.ephemeral)
		rc = run_release(t, r);
out:
	cluster_free(&c);
	return rc;
}

/* ------------------------------------------------------------ shutdown */

/* Shutdown: free what waits on timers. */
void
run_free_timers(void)
{
	later_free();
}
