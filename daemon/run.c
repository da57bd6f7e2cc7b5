/*
 * run.c: the run state machine, the per-cluster FIFO queues and the run
 * indexes.
 *
 * Statuses (set only by set_status(), which checks the transition, logs it,
 * stores the event in the run's history and defers its publication):
 *
 *   (new) -> PENDING     Recently submitted | In queue
 *   PENDING -> RUNNING   an attempt starts
 *   RUNNING -> PENDING   Waiting to retry: the attempt failed, retries left
 *   RUNNING -> SUCCEEDED | FAILED | CANCELLED
 *   PENDING -> CANCELLED | FAILED
 *
 * A cluster holds at most one run (cluster.active_run) from the start of its
 * first attempt until its last attempt's process is gone, retry delays
 * included; the others wait in the cluster's queue, keyed by a per-cluster
 * sequence number, so the queue is FIFO and its length is cluster.queued.
 * Starting the next run is an op of its own (run_kick()), applied after the
 * op that freed or filled the cluster, in the same turn and commit.
 *
 * Indexes (DB_RUNIDX, empty values; ts = submitted_ms, 8 bytes big-endian):
 *   'w' ws NUL ts uuid          every run of a workspace
 *   'd' def_uuid ts uuid        runs of a definition
 *   'c' cluster_uuid ts uuid    runs of a cluster
 *   's' ws NUL status ts uuid   runs of a workspace by status
 *   'f' finished_ts uuid        finished runs, oldest first (retention.c)
 * Listing walks one of them newest first; nothing scans all runs.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

#define LIST_SCAN_MAX	10000	/* index entries one run.list may visit */

/* ------------------------------------------------------------ keys */

/* Index prefix of kind for run r (status st for 's'). */
static void
idx_prefix(struct buf *b, char kind, const char *id, int st)
{
	uint8_t	s = (uint8_t)st;

	b->len = 0;
	buf_add(b, &kind, 1);
	buf_add(b, id, strlen(id));
	if (kind == 'w' || kind == 's')
		buf_add(b, "", 1);
	if (kind == 's')
		buf_add(b, &s, 1);
}

static void
idx_key(struct buf *b, char kind, const char *id, int st, int64_t ts,
    const char *uuid)
{
	uint8_t	t[8];

	idx_prefix(b, kind, id, st);
	be64_put(t, (uint64_t)ts);
	buf_add(b, t, 8);
	buf_add(b, uuid, UUID_LEN);
}

static int
idx_put(struct txn *t, char kind, const char *id, int st, const struct run *r)
{
	struct buf	b = { 0 };
	int		rc;

	idx_key(&b, kind, id, st, r->submitted_ms, r->uuid);
	rc = store_put(t, DB_RUNIDX, b.p, b.len, "", 0);
	buf_free(&b);
	return rc;
}

static int
idx_del(struct txn *t, char kind, const char *id, int st, const struct run *r)
{
	struct buf	b = { 0 };
	int		rc;

	idx_key(&b, kind, id, st, r->submitted_ms, r->uuid);
	rc = store_del(t, DB_RUNIDX, b.p, b.len);
	buf_free(&b);
	return rc;
}

/* Add (or delete) the run's entry of the finished index. */
static int
fin_key(struct txn *t, const struct run *r, int add)
{
	uint8_t	k[1 + 8 + UUID_LEN];

	k[0] = 'f';
	be64_put(k + 1, (uint64_t)r->finished_ms);
	memcpy(k + 9, r->uuid, UUID_LEN);
	return add ? store_put(t, DB_RUNIDX, k, sizeof k, "", 0) :
	    store_del(t, DB_RUNIDX, k, sizeof k);
}

static void
queue_key(uint8_t *k, const char *cluster, uint64_t seq)
{
	memcpy(k, cluster, UUID_LEN);
	be64_put(k + UUID_LEN, seq);
}

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
static int
set_status(struct txn *t, struct run *r, enum rstatus to, enum reason why,
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
	    (rc = idx_del(t, 's', r->ws, r->status, r)) != 0)
		return rc;
	if ((rc = idx_put(t, 's', r->ws, to, r)) != 0)
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
		if ((rc = fin_key(t, r, 1)) != 0)
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

/* ------------------------------------------------------------ loading */

/* Load run uuid of workspace ws; 0, 0 with e set (NOT_FOUND), or error. */
int
run_load(struct txn *t, const char *ws, const char *uuid, struct run *r,
    struct error *e)
{
	int	rc;

	if (uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	rc = store_get_run(t, uuid, r);
	if (rc == 0 && strcmp(r->ws, ws) != 0) {
		run_free(r);
		rc = MDB_NOTFOUND;
	}
	if (rc == MDB_NOTFOUND) {
		error_set(e, E_NOT_FOUND, "uuid", "run '%s' not found in "
		    "workspace '%s'", uuid, ws);
		return 0;
	}
	return rc;
}

/* 1-based place of a queued run in its cluster's queue (for replies). */
static int
queue_position(struct txn *t, struct run *r)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 key[UUID_LEN + 8];
	uint32_t	 pos = 0;
	int		 rc;

	r->queue_position = 0;
	if (r->status != RS_PENDING || r->queue_seq == 0)
		return 0;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_QUEUE),
	    &c)) != 0)
		return rc;
	queue_key(key, r->cluster_uuid, 0);
	k.mv_data = key;
	k.mv_size = sizeof key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof key ||
		    memcmp(k.mv_data, r->cluster_uuid, UUID_LEN) != 0)
			break;
		pos++;
		if (be64_get((uint8_t *)k.mv_data + UUID_LEN) == r->queue_seq) {
			r->queue_position = pos;
			break;
		}
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

/* ------------------------------------------------------------ dispatch */

struct kick_op {
	struct op	op;
	char		cluster[UUID_LEN + 1];
};

/* Start attempt n+1 of r (which holds its cluster) and defer the spawn. */
static int
start_attempt(struct txn *t, struct run *r)
{
	struct attempt		*a;
	struct start_arg	*s;
	int64_t			 now = now_ms();
	int			 rc;

	/* The job's uid is committed with the attempt, before its spawn. */
	s = xcalloc(1, sizeof *s);
	if ((rc = exec_identity(t, r, &s->id)) != 0) {
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
	if ((rc = set_status(t, r, RS_RUNNING, R_RUNNING, NULL)) != 0 ||
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
	MDB_cursor	*cur;
	MDB_val		 key, val;
	uint8_t		 qk[UUID_LEN + 8];
	char		 uuid[UUID_LEN + 1];
	int		 rc;

	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	if ((rc = store_get_cluster(t, k->cluster, &c)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (c.state == CL_PAUSED || c.active_run[0] != '\0' || c.queued == 0 ||
	    loop_stopping())
		goto out;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_QUEUE),
	    &cur)) != 0)
		goto out;
	queue_key(qk, c.uuid, 0);
	key.mv_data = qk;
	key.mv_size = sizeof qk;
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && (key.mv_size != sizeof qk ||
	    memcmp(key.mv_data, c.uuid, UUID_LEN) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0) {
		snprintf(uuid, sizeof uuid, "%.*s", (int)val.mv_size,
		    (char *)val.mv_data);
		rc = store_cursor_del(cur, DB_QUEUE);
	}
	mdb_cursor_close(cur);
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
		rc = start_attempt(t, &r);
out:
	run_free(&r);
	cluster_free(&c);
	return rc;
}

/* A kick that could not commit is tried again after a second. */
static void	retry_later(struct op *);

static void
kick_fail(struct op *op, int rc)
{
	log_warnx("cluster=%s dispatch failed: %s; retrying",
	    ((struct kick_op *)op)->cluster, mdb_strerror(rc));
	retry_later(op);
}

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

/* ------------------------------------------------------------ timers */

/*
 * Ops run again later (retry delays, failed internal commits) sit on a
 * timer; the list lets shutdown free them.
 */
struct later {
	struct op		*op;
	struct event		*ev;
	LIST_ENTRY(later)	 entry;
};
static LIST_HEAD(, later) laters = LIST_HEAD_INITIALIZER(laters);

static void
later_fire(evutil_socket_t fd, short what, void *arg)
{
	struct later	*l = arg;

	(void)fd;
	(void)what;
	LIST_REMOVE(l, entry);
	event_free(l->ev);
	store_submit(l->op);
	free(l);
}

static void
submit_after(struct op *op, int64_t ms)
{
	struct later	*l;
	struct timeval	 tv;

	if (ms < 0)
		ms = 0;
	l = xcalloc(1, sizeof *l);
	l->op = op;
	l->ev = evtimer_new(base, later_fire, l);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(l->ev, &tv);
	LIST_INSERT_HEAD(&laters, l, entry);
}

static void
retry_later(struct op *op)
{
	submit_after(op, 1000);
}

/* Shutdown: drop every op still waiting on a timer. */
static void
laters_free(void)
{
	struct later	*l;

	while ((l = LIST_FIRST(&laters)) != NULL) {
		LIST_REMOVE(l, entry);
		event_free(l->ev);
		l->op->free(l->op);
		free(l);
	}
}

/* ------------------------------------------------------------ ending */

/* The run no longer holds its cluster: free it (or delete an ephemeral). */
static int
release_cluster(struct txn *t, const struct run *r)
{
	struct cluster	c;
	int		rc;

	memset(&c, 0, sizeof c);
	if ((rc = store_get_cluster(t, r->cluster_uuid, &c)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (strcmp(c.active_run, r->uuid) == 0)
		c.active_run[0] = '\0';
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
static void	retry_schedule(struct txn *, const char *, uint32_t, int64_t);

/*
 * The attempt of r ended with res: decide SUCCEEDED, FAILED, a retry, or,
 * when the run was cancelled meanwhile, only free its cluster.
 */
static int
attempt_finish(struct txn *t, struct run *r, const struct result *res)
{
	enum rstatus	 st;
	enum reason	 why;
	char		 text[384], sig[32];
	uint32_t	 max = 1 + r->config.retry.num_retries;
	int		 rc;

	if ((rc = attempt_log_bytes(t, r)) != 0)
		return rc;
	if (rstatus_terminal(r->status)) {
		attempt_record(r, res, r->status, r->reason,
		    r->reason_text != NULL ? r->reason_text : "");
		if ((rc = store_put_run(t, r)) != 0)
			return rc;
		return release_cluster(t, r);
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
	if (st == RS_FAILED && r->attempt < max &&
	    (why != R_TIMEOUT || r->config.retry.on_timeout)) {
		snprintf(text + strlen(text), sizeof text - strlen(text),
		    "; %s (attempt %u of %u in %us)",
		    reason_text(R_RETRY_PENDING), r->attempt + 1, max,
		    r->config.retry.delay_s);
		r->retry_at_ms = now_ms() + (int64_t)r->config.retry.delay_s *
		    1000;
		if ((rc = set_status(t, r, RS_PENDING, R_RETRY_PENDING,
		    text)) != 0 || (rc = store_put_run(t, r)) != 0)
			return rc;
		retry_schedule(t, r->uuid, r->attempt,
		    (int64_t)r->config.retry.delay_s * 1000);
		return 0;
	}
	if ((rc = set_status(t, r, st, why, text[0] != '\0' ? text : NULL)) !=
	    0 || (rc = store_put_run(t, r)) != 0)
		return rc;
	return release_cluster(t, r);
}

struct ended_op {
	struct op	op;
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
	struct result	res;
};

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
		rc = attempt_finish(t, &r, &o->res);
	run_free(&r);
	return rc;
}

static void
ended_fail(struct op *op, int rc)
{
	log_warnx("run=%s end of attempt not stored: %s; retrying",
	    ((struct ended_op *)op)->uuid, mdb_strerror(rc));
	retry_later(op);
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
		rc = start_attempt(t, &r);
	run_free(&r);
	return rc;
}

static void
retry_fail(struct op *op, int rc)
{
	log_warnx("run=%s retry not stored: %s; retrying",
	    ((struct retry_op *)op)->uuid, mdb_strerror(rc));
	retry_later(op);
}

struct retry_arg {
	char		uuid[UUID_LEN + 1];
	uint32_t	attempt;
	int64_t		ms;
};

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
	submit_after(&o->op, a->ms);
}

/* Arm the retry timer once t commits. */
static void
retry_schedule(struct txn *t, const char *uuid, uint32_t attempt, int64_t ms)
{
	struct retry_arg	*a;

	a = xcalloc(1, sizeof *a);
	snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
	a->attempt = attempt;
	a->ms = ms;
	txn_defer(t, retry_arm, a, free);
}

/* ------------------------------------------------------------ submit */

static void
merge_env(struct kvlist *dst, const struct kvlist *over)
{
	size_t	i;

	for (i = 0; i < over->n; i++)
		kvlist_set(dst, over->v[i].key, over->v[i].value);
}

/* Fill a reply with the run and its place in the queue. */
static int
reply_run(struct txn *t, struct run *r, struct buf *out)
{
	int	rc;

	if ((rc = queue_position(t, r)) != 0)
		return rc;
	wire_reply_run(out, r);
	return 0;
}

/* A new ephemeral cluster for run r from cc; 0 or storage error. */
static int
ephemeral_cluster(struct txn *t, const char *ws, const char *run_uuid,
    const struct clusterconfig *cc, struct cluster *c, struct error *e)
{
	memset(c, 0, sizeof *c);
	uuid_new(c->uuid);
	c->ws = xstrdup(ws);
	xasprintf(&c->name, "run-%s", run_uuid);
	clusterconfig_copy(&c->config, cc);
	c->state = CL_RUNNING;
	c->auto_resume = 1;
	c->ephemeral = 1;
	c->created_ms = now_ms();
	c->queue_next = 1;
	return cluster_insert(t, c, e);
}

int
run_submit(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct jobdef	 d;
	struct cluster	 c;
	struct run	 r;
	struct jobconfig snap;		/* what the run shares: store.c */
	struct buf	 key = { 0 };
	uint8_t		 qk[UUID_LEN + 8];
	uint64_t	 nruns;
	const struct clusterconfig *cc = NULL;
	int		 rc = 0, have_def = 0, have_cluster = 0;

	memset(&d, 0, sizeof d);
	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	memset(&snap, 0, sizeof snap);

	/* A repeated idempotency key returns the first run. */
	if (q->idem_key != NULL) {
		char	id[UUID_LEN + 1];

		rc = store_resolve_name(t, DB_IDEM, q->ws, q->idem_key, id);
		if (rc == 0) {
			if ((rc = store_get_run(t, id, &r)) == 0)
				rc = reply_run(t, &r, out);
			goto out;
		}
		if (rc != MDB_NOTFOUND)
			goto out;
		rc = 0;
	}
	if ((rc = store_ws_count(t, "runs", q->ws, 0, &nruns)) != 0)
		goto out;
	if (cfg->quota_runs != 0 && nruns >= cfg->quota_runs) {
		error_set(e, E_RESOURCE_EXHAUSTED, "", "workspace '%s' holds "
		    "%llu runs, its quota (quota_runs = %u): wait for retention "
		    "to remove finished ones", q->ws,
		    (unsigned long long)nruns, cfg->quota_runs);
		goto out;
	}

	uuid_new(r.uuid);
	r.ws = xstrdup(q->ws);
	if (q->verb == V_RUN_SUBMIT) {
		if (q->def_uuid == NULL) {
			error_set(e, E_INVALID, "job_definition_uuid",
			    "job_definition_uuid is required");
			goto out;
		}
		if ((rc = store_get_jobdef(t, q->def_uuid, &d)) == 0)
			have_def = 1;
		if (rc == MDB_NOTFOUND || (rc == 0 &&
		    strcmp(d.ws, q->ws) != 0)) {
			error_set(e, E_NOT_FOUND, "job_definition_uuid",
			    "job definition '%s' not found in workspace '%s'",
			    q->def_uuid, q->ws);
			rc = 0;
			goto out;
		}
		if (rc != 0)
			goto out;
		memcpy(r.def_uuid, d.uuid, sizeof r.def_uuid);
		jobconfig_copy(&snap, &d.config);
		jobconfig_copy(&r.config, &snap);
		if (q->has_args) {
			if (args_valid(q->args, "args", e) == -1)
				goto out;
			free(r.config.args);
			r.config.args = xstrdup(q->args);
			r.has_args = 1;
			r.args = xstrdup(q->args);
		}
		if (d.has_cluster)
			cc = &d.cluster;
	} else {
		if (q->sql == NULL) {
			error_set(e, E_INVALID, "sql_query",
			    "sql_query is required");
			goto out;
		}
		snap.type = JT_SQL;
		jobdef_fill_defaults(&snap);
		jobconfig_copy(&r.config, &snap);
		r.sql = xstrdup(q->sql);
		if (q->has_cluster) {
			if (jobdef_validate_cluster(&q->cluster,
			    "cluster_config", e) == -1)
				goto out;
			cc = &q->cluster;
		}
	}
	r.type = r.config.type;
	merge_env(&r.config.env, &q->env);
	kvlist_copy(&r.env, &q->env);

	if (q->cluster_uuid != NULL) {
		if ((rc = cluster_load(t, q->ws, q->cluster_uuid, NULL, &c,
		    e)) != 0)
			goto out;
		if (e->code != E_OK) {
			snprintf(e->field, sizeof e->field, "cluster_uuid");
			goto out;
		}
		have_cluster = 1;
	} else if (cc != NULL) {
		rc = ephemeral_cluster(t, q->ws, r.uuid, cc, &c, e);
		have_cluster = 1;
		if (rc != 0 || e->code != E_OK)
			goto out;
		r.ephemeral = 1;
	} else {
		error_set(e, E_INVALID, "cluster_uuid", "cluster_uuid is "
		    "required: %s", q->verb == V_RUN_SUBMIT ?
		    "the job definition has no default cluster configuration" :
		    "the request gives no cluster_config");
		goto out;
	}
	if (c.state == CL_PAUSED) {
		if (!c.auto_resume) {
			error_set(e, E_PAUSED, "cluster_uuid", "cluster '%s' "
			    "is paused and does not resume on submission",
			    c.uuid);
			goto out;
		}
		c.state = CL_RUNNING;
		log_info("cluster resumed by submission ws=%s cluster=%s",
		    c.ws, c.uuid);
	}
	if (c.queued >= cfg->queue_cap) {
		error_set(e, E_QUEUE_FULL, "cluster_uuid", "cluster '%s' has "
		    "%u runs queued, the most it takes", c.uuid, c.queued);
		goto out;
	}

	memcpy(r.cluster_uuid, c.uuid, sizeof r.cluster_uuid);
	r.workers = c.config.workers;
	r.version = c.config.version != NULL ? xstrdup(c.config.version) :
	    NULL;
	r.instance_type = c.config.instance_type != NULL ?
	    xstrdup(c.config.instance_type) : NULL;
	r.submitted_ms = now_ms();
	if (q->idem_key != NULL)
		r.idem_key = xstrdup(q->idem_key);
	r.queue_seq = c.queue_next++;
	c.queued++;
	queue_key(qk, c.uuid, r.queue_seq);
	/* The definition's configuration is stored once for all its runs;
	 * this one's record holds its key, its args and its env. */
	if ((rc = store_config_ref(t, &snap, r.config_ref)) != 0 ||
	    (rc = store_ws_count(t, "runs", r.ws, 1, NULL)) != 0)
		goto out;
	r.has_config_ref = 1;
	if ((rc = store_run_id(t, &r)) != 0 ||
	    (rc = store_put(t, DB_QUEUE, qk, sizeof qk, r.uuid, UUID_LEN)) !=
	    0 || (rc = store_put_cluster(t, &c)) != 0)
		goto out;
	if (q->idem_key != NULL) {
		store_name_key(&key, q->ws, q->idem_key);
		if ((rc = store_put(t, DB_IDEM, key.p, key.len, r.uuid,
		    UUID_LEN)) != 0)
			goto out;
	}
	if ((rc = idx_put(t, 'w', r.ws, 0, &r)) != 0 ||
	    (r.def_uuid[0] != '\0' &&
	    (rc = idx_put(t, 'd', r.def_uuid, 0, &r)) != 0) ||
	    (rc = idx_put(t, 'c', r.cluster_uuid, 0, &r)) != 0)
		goto out;
	if ((rc = set_status(t, &r, RS_PENDING, c.active_run[0] == '\0' &&
	    c.queued == 1 ? R_RECENTLY_SUBMITTED : R_IN_QUEUE, NULL)) != 0 ||
	    (rc = store_put_run(t, &r)) != 0)
		goto out;
	if (c.active_run[0] == '\0')	/* else the end of that run kicks */
		run_kick(t, c.uuid);
	r.queue_position = c.queued;	/* last in line: no walk */
	wire_reply_run(out, &r);
out:
	if (have_def)
		jobdef_free(&d);
	if (have_cluster)
		cluster_free(&c);
	run_free(&r);
	jobconfig_free(&snap);
	buf_free(&key);
	return rc;
}

/* ------------------------------------------------------------ cancel */

/* Cancel r (not terminal) by the user; r is stored by this function. */
static int
cancel_one(struct txn *t, struct run *r)
{
	struct cluster	 c;
	struct kill_arg	*k;
	uint8_t		 qk[UUID_LEN + 8];
	int		 rc, holds, was_running = r->status == RS_RUNNING;

	memset(&c, 0, sizeof c);
	if ((rc = store_get_cluster(t, r->cluster_uuid, &c)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	holds = rc == 0 && strcmp(c.active_run, r->uuid) == 0;
	if (rc == 0 && !holds && r->queue_seq != 0) {
		queue_key(qk, c.uuid, r->queue_seq);
		if ((rc = store_del(t, DB_QUEUE, qk, sizeof qk)) != 0)
			goto out;
		if (c.queued > 0)
			c.queued--;
		r->queue_seq = 0;
		if ((rc = store_put_cluster(t, &c)) != 0)
			goto out;
	}
	rc = 0;
	if ((rc = set_status(t, r, RS_CANCELLED, R_CANCELLED_BY_USER,
	    NULL)) != 0 || (rc = store_put_run(t, r)) != 0)
		goto out;
	if (was_running) {
		/* The cluster is freed when the process is gone. */
		k = xcalloc(1, sizeof *k);
		memcpy(k->uuid, r->uuid, sizeof k->uuid);
		k->attempt = r->attempt;
		txn_defer_late(t, kill_cb, k, free);
	} else if (holds || c.ephemeral)
		rc = release_cluster(t, r);
out:
	cluster_free(&c);
	return rc;
}

int
run_cancel(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct run	r;
	int		rc;

	memset(&r, 0, sizeof r);
	if ((rc = run_load(t, q->ws, q->uuid, &r, e)) != 0 || e->code != E_OK)
		return rc;
	if (rstatus_terminal(r.status))
		error_set(e, E_PRECONDITION, "uuid", "run '%s' is %s already",
		    r.uuid, rstatus_name(r.status));
	else if ((rc = cancel_one(t, &r)) == 0)
		rc = reply_run(t, &r, out);
	run_free(&r);
	return rc;
}

/*
 * Walk the 's' index of ws for status st, oldest first, calling fn for
 * each run uuid until it returns non-zero.
 */
static int
walk_status(struct txn *t, const char *ws, enum rstatus st,
    int (*fn)(struct txn *, const char *, void *), void *arg)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct buf	 pre = { 0 };
	char		 uuid[UUID_LEN + 1];
	char		**ids = NULL;
	size_t		 n = 0, i;
	int		 rc;

	/* Collect first: fn may write to the index being walked. */
	idx_prefix(&pre, 's', ws, st);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0) {
		buf_free(&pre);
		return rc;
	}
	k.mv_data = pre.p;
	k.mv_size = pre.len;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != pre.len + 8 + UUID_LEN ||
		    memcmp(k.mv_data, pre.p, pre.len) != 0)
			break;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrndup((char *)k.mv_data + pre.len + 8, UUID_LEN);
	}
	mdb_cursor_close(c);
	buf_free(&pre);
	rc = rc == MDB_NOTFOUND ? 0 : rc;
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(uuid, sizeof uuid, "%s", ids[i]);
		rc = fn(t, uuid, arg);
	}
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

struct cancel_all {
	struct request	 *q;
	char		**done;
	size_t		  n;
};

static int
cancel_match(struct txn *t, const char *uuid, void *arg)
{
	struct cancel_all	*ca = arg;
	struct run		 r;
	size_t			 i;
	int			 rc, match;

	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	match = !rstatus_terminal(r.status);
	if (match && ca->q->def_uuid != NULL)
		match = strcmp(r.def_uuid, ca->q->def_uuid) == 0;
	if (match && ca->q->n_cluster_uuids > 0) {
		match = 0;
		for (i = 0; i < ca->q->n_cluster_uuids; i++)
			if (strcmp(r.cluster_uuid,
			    ca->q->cluster_uuids[i]) == 0)
				match = 1;
	}
	if (match && (rc = cancel_one(t, &r)) == 0) {
		ca->done = xreallocarray(ca->done, ca->n + 1,
		    sizeof *ca->done);
		ca->done[ca->n++] = xstrdup(r.uuid);
	}
	run_free(&r);
	return rc;
}

int
run_cancel_all(struct txn *t, struct request *q, struct buf *out,
    struct error *e)
{
	struct cancel_all	ca = { q, NULL, 0 };
	size_t			i;
	int			rc;

	if (q->n_cluster_uuids == 0 && q->def_uuid == NULL) {
		error_set(e, E_INVALID, "cluster_uuids", "cluster_uuids or "
		    "job_definition_uuid is required");
		return 0;
	}
	/* Waiting runs first, so no freed cluster starts one of them. */
	if ((rc = walk_status(t, q->ws, RS_PENDING, cancel_match, &ca)) == 0 &&
	    (rc = walk_status(t, q->ws, RS_RUNNING, cancel_match, &ca)) == 0)
		wire_reply_cancelled(out, ca.done, ca.n);
	for (i = 0; i < ca.n; i++)
		free(ca.done[i]);
	free(ca.done);
	return rc;
}

/* ------------------------------------------------------------ reading */

int
run_get(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct run	r;
	int		rc;

	memset(&r, 0, sizeof r);
	if ((rc = run_load(t, q->ws, q->uuid, &r, e)) != 0 || e->code != E_OK)
		return rc;
	rc = reply_run(t, &r, out);
	run_free(&r);
	return rc;
}

int
run_events(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct run	 r;
	struct runevent	*evs;
	MDB_val		 v;
	uint8_t		 key[16];
	uint64_t	 i;
	size_t		 n = 0;
	int		 rc;

	memset(&r, 0, sizeof r);
	if ((rc = run_load(t, q->ws, q->uuid, &r, e)) != 0 || e->code != E_OK)
		return rc;
	evs = xcalloc(r.event_seq, sizeof *evs);
	for (i = 1; i <= r.event_seq && rc == 0; i++) {
		store_event_key(key, r.id, i);
		if ((rc = store_get(t, DB_EVENTS, key, sizeof key, &v)) == 0 &&
		    wire_decode_event(v.mv_data, v.mv_size, &evs[n]) == 0)
			n++;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		wire_reply_events(out, evs, n);
	for (i = 0; i < n; i++)
		event_free_fields(&evs[i]);
	free(evs);
	run_free(&r);
	return rc;
}

/*
 * A page of runs, newest first: as many as page_size asks and the reply
 * can carry (wire_list_room()); the next page starts after the last one.
 */
int
run_list(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct buf	 pre = { 0 }, seek = { 0 };
	struct run	*runs;
	struct pagepos	 more, seen;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 ts = 0;
	uint8_t		 tsb[8];
	char		 uuid[UUID_LEN + 1] = "";
	size_t		 n = 0, scanned = 0, room = wire_list_room(q), sz;
	int		 rc, op;

	memset(&more, 0, sizeof more);
	memset(&seen, 0, sizeof seen);
	if (q->status != RS_NONE)
		idx_prefix(&pre, 's', q->ws, q->status);
	else if (q->def_uuid != NULL)
		idx_prefix(&pre, 'd', q->def_uuid, 0);
	else if (q->cluster_uuid != NULL)
		idx_prefix(&pre, 'c', q->cluster_uuid, 0);
	else
		idx_prefix(&pre, 'w', q->ws, 0);
	/* Seek just past the newest entry to return, then walk back. */
	buf_add(&seek, pre.p, pre.len);
	if (q->page.set) {
		be64_put(tsb, q->page.ts);
		buf_add(&seek, tsb, 8);
		buf_add(&seek, q->page.uuid, UUID_LEN);
	} else {
		be64_put(tsb, q->before_ms != 0 ? (uint64_t)q->before_ms :
		    UINT64_MAX);
		buf_add(&seek, tsb, 8);
	}
	runs = xcalloc(q->page_size, sizeof *runs);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		goto out;
	k.mv_data = seek.p;
	k.mv_size = seek.len;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	op = MDB_PREV;
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	else if (rc == 0 && k.mv_size == seek.len &&
	    memcmp(k.mv_data, seek.p, seek.len) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);	/* the token */
	else if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, op)) {
		const uint8_t	*kp = k.mv_data;
		struct run	*r = &runs[n];

		if (k.mv_size != pre.len + 8 + UUID_LEN ||
		    memcmp(kp, pre.p, pre.len) != 0)
			break;
		ts = be64_get(kp + pre.len);
		if (q->after_ms != 0 && ts < (uint64_t)q->after_ms)
			break;
		if (n == q->page_size || ++scanned > LIST_SCAN_MAX) {
			/* More may follow: resume after the last one seen. */
			more = seen;
			break;
		}
		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (const char *)kp + pre.len + 8);
		seen.set = 1;
		seen.ts = ts;
		memcpy(seen.uuid, uuid, sizeof seen.uuid);
		memset(r, 0, sizeof *r);
		if ((rc = store_get_run(t, uuid, r)) == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			break;
		if (strcmp(r->ws, q->ws) != 0 ||
		    (q->status != RS_NONE && r->status != q->status) ||
		    (q->def_uuid != NULL &&
		    strcmp(r->def_uuid, q->def_uuid) != 0) ||
		    (q->cluster_uuid != NULL &&
		    strcmp(r->cluster_uuid, q->cluster_uuid) != 0)) {
			run_free(r);
			continue;
		}
		if ((rc = queue_position(t, r)) != 0) {
			run_free(r);
			break;
		}
		if ((sz = wire_size_run(r)) > room) {
			/* The reply is full: the next page starts here. */
			if (n == 0)
				wire_error_too_large(e, "page_token", sz,
				    q->reply_max, "a job run is too large to "
				    "send");
			else {
				more.set = 1;
				more.ts = (uint64_t)runs[n - 1].submitted_ms;
				memcpy(more.uuid, runs[n - 1].uuid,
				    sizeof more.uuid);
			}
			run_free(r);
			break;
		}
		room -= sz;
		n++;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && e->code == E_OK)
		wire_reply_runs(out, q->ws, runs, n, more.set ? &more : NULL);
out:
	while (n > 0)
		run_free(&runs[--n]);
	free(runs);
	buf_free(&pre);
	buf_free(&seek);
	return rc;
}

/* ------------------------------------------------------------ purging */

/*
 * Remove a finished run: its record, index entries, history, idempotency
 * key and (after the commit, retention.c) its files. 0 or an LMDB error.
 */
int
run_purge(struct txn *t, const char *uuid)
{
	struct run	 r;
	struct buf	 key = { 0 };
	uint8_t		 ek[16];
	uint64_t	 i;
	int		 rc;

	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (!rstatus_terminal(r.status))
		goto out;	/* never a live run */
	if ((rc = store_del_run(t, &r)) != 0 ||
	    (rc = idx_del(t, 'w', r.ws, 0, &r)) != 0 ||
	    (r.def_uuid[0] != '\0' &&
	    (rc = idx_del(t, 'd', r.def_uuid, 0, &r)) != 0) ||
	    (rc = idx_del(t, 'c', r.cluster_uuid, 0, &r)) != 0 ||
	    (rc = idx_del(t, 's', r.ws, r.status, &r)) != 0 ||
	    (rc = fin_key(t, &r, 0)) != 0 ||
	    (rc = store_counter_add(t, "log_bytes", -(int64_t)r.log_bytes,
	    NULL)) != 0)
		goto out;
	for (i = 1; i <= r.event_seq; i++) {
		store_event_key(ek, r.id, i);
		if ((rc = store_del(t, DB_EVENTS, ek, sizeof ek)) != 0)
			goto out;
	}
	if (r.idem_key != NULL) {
		store_name_key(&key, r.ws, r.idem_key);
		if ((rc = store_del(t, DB_IDEM, key.p, key.len)) != 0)
			goto out;
	}
	if ((rc = logs_forget(t, r.uuid)) != 0 ||
	    (rc = retention_trash(t, r.uuid)) != 0)
		goto out;
	log_info("run=%s ws=%s purged (finished %lld, %llu log bytes)", r.uuid,
	    r.ws, (long long)r.finished_ms, (unsigned long long)r.log_bytes);
out:
	buf_free(&key);
	run_free(&r);
	return rc;
}

/* ------------------------------------------------------------ recovery */

static void	recheck_arm(void *);

static int
recover_cluster(struct txn *t, const char *uuid)
{
	struct cluster	c;
	struct run	r;
	struct result	res, lost;
	int64_t		wait;
	int		rc;

	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	memset(&lost, 0, sizeof lost);
	lost.reason = R_SUPERVISOR_LOST;
	snprintf(lost.text, sizeof lost.text, "no attempt in progress");
	if ((rc = store_get_cluster(t, uuid, &c)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (c.active_run[0] == '\0') {
		run_kick(t, c.uuid);
		goto out;
	}
	if ((rc = store_get_run(t, c.active_run, &r)) == MDB_NOTFOUND) {
		c.active_run[0] = '\0';
		rc = store_put_cluster(t, &c);
		run_kick(t, c.uuid);
		goto out;
	}
	if (rc != 0)
		goto out;
	if (r.status == RS_PENDING && r.reason == R_RETRY_PENDING) {
		wait = r.retry_at_ms - now_ms();
		retry_schedule(t, r.uuid, r.attempt, wait < 0 ? 0 : wait);
		goto out;
	}
	/*
	 * RUNNING, or cancelled before its process was gone: its shim goes on
	 * (watch it again), or left its result while batchd was away.
	 */
	if (r.n_attempts == 0 ||
	    r.attempts[r.n_attempts - 1].finished_ms != 0) {
		rc = attempt_finish(t, &r, &lost);
		goto out;
	}
	switch (exec_reattach(t, r.ws, r.uuid, r.attempt, &res,
	    run_attempt_ended, run_note)) {
	case 1:
		if (rstatus_terminal(r.status))
			exec_kill(r.uuid, r.attempt);
		break;
	case 2:
		txn_defer(t, recheck_arm, xstrdup(c.uuid), free);
		break;
	default:
		rc = attempt_finish(t, &r, &res);
		break;
	}
out:
	run_free(&r);
	cluster_free(&c);
	return rc;
}

/* A shim was starting when batchd died: look at its cluster again. */
struct recheck_op {
	struct op	op;
	char		cluster[UUID_LEN + 1];
};

static int
recheck_apply(struct op *op, struct txn *t)
{
	return recover_cluster(t, ((struct recheck_op *)op)->cluster);
}

static void
recheck_fail(struct op *op, int rc)
{
	log_warnx("cluster=%s recovery not stored: %s; retrying",
	    ((struct recheck_op *)op)->cluster, mdb_strerror(rc));
	retry_later(op);
}

static void
recheck_arm(void *arg)
{
	struct recheck_op	*o;

	o = xcalloc(1, sizeof *o);
	o->op.apply = recheck_apply;
	o->op.fail = recheck_fail;
	o->op.free = op_free;
	snprintf(o->cluster, sizeof o->cluster, "%s", (const char *)arg);
	submit_after(&o->op, 200);
}

static int
recover_apply(struct op *op, struct txn *t)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	char		**ids = NULL;
	size_t		 n = 0, i;
	int		 rc;

	(void)op;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_CLUSTERS),
	    &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrndup(k.mv_data, k.mv_size);
	}
	mdb_cursor_close(c);
	rc = rc == MDB_NOTFOUND ? 0 : rc;
	for (i = 0; i < n && rc == 0; i++)
		rc = recover_cluster(t, ids[i]);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	log_info("recovery: %zu clusters checked", n);
	return rc;
}

static void
recover_fail(struct op *op, int rc)
{
	fatal_code(EXIT_STORAGE, "recovery failed: %s", mdb_strerror(rc));
	(void)op;
}

static void
recover_free(struct op *op)
{
	(void)op;
}

/* At start, before the bus: finish what the last life left running. */
void
run_recover(void)
{
	static struct op	op = { recover_apply, recover_fail, recover_free,
	    { NULL, NULL } };

	store_submit(&op);
	store_flush_now();
}

static void
totals_cb(const struct cluster *c, void *arg)
{
	struct cluster_totals	*t = arg;

	t->clusters++;
	t->queued += c->queued;
	t->active += c->active_run[0] != '\0';
}

/* Clusters, queued and running runs, for status lines. */
void
run_totals(struct cluster_totals *t)
{
	memset(t, 0, sizeof *t);
	store_each_cluster(totals_cb, t);
}

/* Shutdown: free what waits on timers. */
void
run_free_timers(void)
{
	laters_free();
}
