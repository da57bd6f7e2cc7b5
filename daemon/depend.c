/*
 * depend.c: workflows: runs that wait for other runs.
 *
 * A run submitted with depends_on (at most DEPS_MAX dependencies, each an
 * upstream run and a condition) whose dependencies are not all met yet is
 * PENDING with R_WAITING_DEPS: it is in no queue and does not count in its
 * cluster's queued (nor against queue_cap). Bit i of its deps_met says
 * deps[i] is met. When an upstream ends, the state machine (run_set_status(),
 * the one setter) calls depend_ended(), which chains a resolve op in the
 * same turn and commit (txn_then()): each dependent's edge is met (its bit
 * set; the last one releases the run into its cluster's FIFO) or can never
 * be (the dependent is CANCELLED with R_UPSTREAM_FAILED, which ends it in
 * turn and chains its own resolve op). So a cascade goes as deep as the
 * graph does within one commit, each run's end its own status event, and
 * its cost is the number of dependents, never the number of runs.
 *
 * A released run whose queue is full keeps waiting outside it (PENDING, In
 * queue, ready_seq set) and enters, in the order it became ready, as
 * places free (depend_admit(): kick_apply() and run_cancel_as(), where a
 * place frees).
 *
 * Resolving an edge is idempotent (a met bit is never counted twice, a run
 * that is no longer waiting is left alone), so a resolve op that failed is
 * simply tried again, and a restart (depend_recover()) looks at every
 * waiting run's upstreams again.
 *
 * DB_RUNIDX keys (runidx.c lists them all), empty values:
 *   'n' upstream dependent i cond   an edge: dependent's deps[i] (i, cond:
 *                                   one byte each); kept until either run
 *                                   is purged (run.get's dependents, repair)
 *   'a' uuid                        a run waiting for dependencies
 *   'y' cluster seq uuid            a run ready while its queue was full, in
 *                                   line (seq: its ready_seq, 8 bytes BE)
 *   'o' rerun_of ts uuid            the reruns of a run (runidx_put())
 * Loop thread only, inside the turn's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define EDGE_LEN	(1 + 2 * UUID_LEN + 2)
#define WAIT_LEN	(1 + UUID_LEN)
#define LINE_LEN	(1 + UUID_LEN + 8 + UUID_LEN)
#define DEPENDENTS_MAX	1000	/* run.get lists at most these */

/* The name of a condition, as the proto spells it. */
const char *
depcond_name(enum depcond c)
{
	switch (c) {
	case DC_FAILED:
		return "AFTER_FAILED";
	case DC_ENDED:
		return "AFTER_ENDED";
	default:
		return "AFTER_SUCCEEDED";
	}
}

/* Does an upstream that ended with st meet condition c? */
int
depcond_met(enum depcond c, enum rstatus st)
{
	switch (c) {
	case DC_FAILED:
		return st == RS_FAILED;
	case DC_ENDED:
		return rstatus_terminal(st);
	default:
		return st == RS_SUCCEEDED;
	}
}

/* Every dependency of r met? */
static uint64_t
all_met(size_t n)
{
	return n >= 64 ? UINT64_MAX : ((uint64_t)1 << n) - 1;
}

/* Is r waiting for a dependency (its bookkeeping says so)? */
int
depend_waiting(const struct run *r)
{
	return r->n_deps > 0 && (r->deps_met & all_met(r->n_deps)) !=
	    all_met(r->n_deps);
}

/* ------------------------------------------------------------ keys */

static void
edge_key(uint8_t *k, const char *up, const char *down, size_t i,
    enum depcond c)
{
	k[0] = 'n';
	memcpy(k + 1, up, UUID_LEN);
	memcpy(k + 1 + UUID_LEN, down, UUID_LEN);
	k[1 + 2 * UUID_LEN] = (uint8_t)i;
	k[2 + 2 * UUID_LEN] = (uint8_t)c;
}

static void
wait_key(uint8_t *k, const char *uuid)
{
	k[0] = 'a';
	memcpy(k + 1, uuid, UUID_LEN);
}

static void
line_key(uint8_t *k, const char *cluster, uint64_t seq, const char *uuid)
{
	k[0] = 'y';
	memcpy(k + 1, cluster, UUID_LEN);
	be64_put(k + 1 + UUID_LEN, seq);
	memcpy(k + 1 + UUID_LEN + 8, uuid, UUID_LEN);
}

/*
 * The keys of DB_RUNIDX that begin with pre (plen bytes) and are klen
 * long, at most max of them (0: all), copied one after another into *out
 * (the caller frees it); their number into *n. 0 or an LMDB error.
 */
static int
keys_with(struct txn *t, const void *pre, size_t plen, size_t klen,
    size_t max, uint8_t **out, size_t *n)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	int		 rc;

	*out = NULL;
	*n = 0;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		return rc;
	k.mv_data = (void *)pre;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    (max == 0 || *n < max); rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, pre, plen) != 0)
			break;
		if (k.mv_size != klen)
			continue;
		*out = xreallocarray(*out, *n + 1, klen);
		memcpy(*out + *n * klen, k.mv_data, klen);
		(*n)++;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The edges out of upstream up, into *edges (EDGE_LEN each). */
static int
edges_of(struct txn *t, const char *up, size_t max, uint8_t **edges,
    size_t *n)
{
	uint8_t	pre[1 + UUID_LEN];

	pre[0] = 'n';
	memcpy(pre + 1, up, UUID_LEN);
	return keys_with(t, pre, sizeof pre, EDGE_LEN, max, edges, n);
}

/* ------------------------------------------------------------ submission */

/*
 * Check q's depends_on for run r being submitted (targets are uuids: a
 * batch has put its items' in) and give r its dependencies: an unknown
 * run, or one of another workspace, is NOT_FOUND; one that ended so that
 * the condition can never be met is FAILED_PRECONDITION; one that ended
 * meeting it is met already. 0 (e set: refused) or a storage error.
 */
int
depend_check(struct txn *t, struct request *q, struct run *r, struct error *e)
{
	struct dep	*d;
	struct run	 u;
	char		 f[64];
	size_t		 i;
	int		 rc;

	for (i = 0; i < q->n_deps; i++) {
		d = &q->deps[i];
		if (d->has_index) {
			snprintf(f, sizeof f, "depends_on[%zu].index", i);
			error_set(e, E_INVALID, f, "%s names an item of the "
			    "same run.submit_batch request; run.submit takes "
			    "run_uuid", f);
			return 0;
		}
		snprintf(f, sizeof f, "depends_on[%zu].run_uuid", i);
		memset(&u, 0, sizeof u);
		if ((rc = store_get_run(t, d->uuid, &u)) == 0 &&
		    strcmp(u.ws, q->ws) != 0) {
			run_free(&u);
			rc = MDB_NOTFOUND;
		}
		if (rc == MDB_NOTFOUND) {
			error_set(e, E_NOT_FOUND, f, "run '%s' not found in "
			    "workspace '%s'", d->uuid, q->ws);
			return 0;
		}
		if (rc != 0)
			return rc;
		if (rstatus_terminal(u.status) &&
		    !depcond_met(d->cond, u.status))
			error_set(e, E_PRECONDITION, f, "run '%s' is %s "
			    "already: %s can never be met", u.uuid,
			    rstatus_name(u.status), depcond_name(d->cond));
		else if (rstatus_terminal(u.status))
			r->deps_met |= (uint64_t)1 << i;
		run_free(&u);
		if (e->code != E_OK)
			return 0;
	}
	if (q->n_deps == 0)
		return 0;
	r->deps = xcalloc(q->n_deps, sizeof *r->deps);
	memcpy(r->deps, q->deps, q->n_deps * sizeof *r->deps);
	r->n_deps = q->n_deps;
	return 0;
}

/* Store new run r's edges, its waiting entry and its rerun entry. */
int
depend_store(struct txn *t, const struct run *r)
{
	uint8_t	k[EDGE_LEN];
	size_t	i;
	int	rc;

	for (i = 0; i < r->n_deps; i++) {
		edge_key(k, r->deps[i].uuid, r->uuid, i, r->deps[i].cond);
		if ((rc = store_put(t, DB_RUNIDX, k, sizeof k, "", 0)) != 0)
			return rc;
	}
	if (depend_waiting(r)) {
		wait_key(k, r->uuid);
		if ((rc = store_put(t, DB_RUNIDX, k, WAIT_LEN, "", 0)) != 0)
			return rc;
	}
	if (r->rerun_of[0] != '\0')
		return runidx_put(t, 'o', r->rerun_of, 0, r);
	return 0;
}

/* ------------------------------------------------------------ release */

/*
 * Ready run r enters cluster c's FIFO, last (its time in queue counts from
 * now); a kick starts it if c is idle. The caller stores both.
 */
static int
enter(struct txn *t, struct run *r, struct cluster *c)
{
	int	rc;

	r->queue_seq = c->queue_next++;
	r->ready_seq = 0;
	c->queued++;
	r->reason = R_IN_QUEUE;
	free(r->reason_text);
	r->reason_text = xstrdup(reason_text(R_IN_QUEUE));
	if ((rc = queuetime_enter(t, r, now_ms())) != 0 ||
	    (rc = queue_put(t, c->uuid, r->queue_seq, r->uuid)) != 0)
		return rc;
	log_info("run=%s ws=%s cluster=%s dependencies met: queued",
	    r->uuid, r->ws, c->uuid);
	if (c->active_run[0] == '\0')
		run_kick(t, c->uuid);
	return 0;
}

/*
 * r's last dependency is met: it enters c's queue, or, c's queue full,
 * waits in line outside it (In queue, ready_seq). Both are stored.
 */
int
depend_release(struct txn *t, struct run *r, struct cluster *c)
{
	uint8_t	k[LINE_LEN];
	int	rc;

	wait_key(k, r->uuid);
	if ((rc = store_del(t, DB_RUNIDX, k, WAIT_LEN)) != 0)
		return rc;
	if (c->queued < cfg->queue_cap)
		rc = enter(t, r, c);
	else {
		r->ready_seq = c->queue_next++;
		r->reason = R_IN_QUEUE;
		free(r->reason_text);
		r->reason_text = xstrdup("In queue (outside it until a place "
		    "frees: the queue is full)");
		line_key(k, c->uuid, r->ready_seq, r->uuid);
		rc = store_put(t, DB_RUNIDX, k, sizeof k, "", 0);
		log_info("run=%s ws=%s cluster=%s dependencies met: waits "
		    "for a place in the full queue", r->uuid, r->ws, c->uuid);
	}
	if (rc == 0 && (rc = store_put_run(t, r)) == 0)
		rc = store_put_cluster(t, c);
	return rc;
}

/*
 * Places are free in c's queue: the runs in line outside it enter, first
 * ready first. c is stored if any did. 0 or an LMDB error.
 */
int
depend_admit(struct txn *t, struct cluster *c)
{
	uint8_t		 pre[1 + UUID_LEN], *keys;
	struct run	 r;
	char		 uuid[UUID_LEN + 1];
	size_t		 n, i;
	int		 rc, moved = 0;

	if (c->queued >= cfg->queue_cap)
		return 0;
	pre[0] = 'y';
	memcpy(pre + 1, c->uuid, UUID_LEN);
	if ((rc = keys_with(t, pre, sizeof pre, LINE_LEN,
	    cfg->queue_cap - c->queued, &keys, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		const uint8_t *k = keys + i * LINE_LEN;

		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (const char *)k + 1 + UUID_LEN + 8);
		if ((rc = store_del(t, DB_RUNIDX, k, LINE_LEN)) != 0)
			break;
		memset(&r, 0, sizeof r);
		if ((rc = store_get_run(t, uuid, &r)) == MDB_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0 && r.status == RS_PENDING && r.queue_seq == 0 &&
		    r.ready_seq == be64_get(k + 1 + UUID_LEN)) {
			if ((rc = enter(t, &r, c)) == 0)
				rc = store_put_run(t, &r);
			moved++;
		}
		run_free(&r);
	}
	free(keys);
	if (rc == 0 && moved > 0)
		rc = store_put_cluster(t, c);
	return rc;
}

/* ------------------------------------------------------------ resolution */

/*
 * Edge i of run down (condition cond) to upstream up, which ended with st:
 * met, its bit is set and the last releases down; never to be met, down is
 * CANCELLED (UPSTREAM_FAILED). Anything else (down gone, no longer
 * waiting, the edge met already) is left alone.
 */
static int
resolve_edge(struct txn *t, const char *up, enum rstatus st,
    const char *down, size_t i, enum depcond cond)
{
	struct run	d;
	struct cluster	c;
	char		text[256];
	int		rc;

	memset(&d, 0, sizeof d);
	memset(&c, 0, sizeof c);
	if ((rc = store_get_run(t, down, &d)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (d.status != RS_PENDING || d.reason != R_WAITING_DEPS ||
	    i >= d.n_deps || (d.deps_met & (uint64_t)1 << i))
		goto out;
	if (!depcond_met(cond, st)) {
		snprintf(text, sizeof text, "%s: run %s %s%s (%s)",
		    reason_text(R_UPSTREAM_FAILED), up, st == RS_NONE ?
		    "is gone" : "ended ", st == RS_NONE ? "" :
		    rstatus_name(st), depcond_name(cond));
		rc = run_cancel_as(t, &d, R_UPSTREAM_FAILED, text);
		goto out;
	}
	d.deps_met |= (uint64_t)1 << i;
	if (depend_waiting(&d)) {
		rc = store_put_run(t, &d);
		goto out;
	}
	if ((rc = store_get_cluster(t, d.cluster_uuid, &c)) == MDB_NOTFOUND) {
		snprintf(text, sizeof text, "%s: cluster %s was deleted while "
		    "the run waited", reason_text(R_CLUSTER_DELETED),
		    d.cluster_uuid);
		rc = run_cancel_as(t, &d, R_CLUSTER_DELETED, text);
	} else if (rc == 0)
		rc = depend_release(t, &d, &c);
out:
	cluster_free(&c);
	run_free(&d);
	return rc;
}

/* An upstream's end, to be resolved later in the same turn. */
struct resolve_op {
	struct op	op;
	char		uuid[UUID_LEN + 1];
	enum rstatus	status;
};

/* Resolve every edge out of the upstream that ended. */
static int
resolve_apply(struct op *op, struct txn *t)
{
	struct resolve_op	*o = (struct resolve_op *)op;
	uint8_t			*edges, *k;
	char			 down[UUID_LEN + 1];
	size_t			 n, i;
	int			 rc;

	if ((rc = edges_of(t, o->uuid, 0, &edges, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		k = edges + i * EDGE_LEN;
		snprintf(down, sizeof down, "%.*s", UUID_LEN,
		    (const char *)k + 1 + UUID_LEN);
		rc = resolve_edge(t, o->uuid, o->status, down,
		    k[1 + 2 * UUID_LEN], (enum depcond)k[2 + 2 * UUID_LEN]);
	}
	free(edges);
	return rc;
}

/* Not stored: again in a second (resolving is idempotent). */
static void
resolve_fail(struct op *op, int rc)
{
	log_warnx("run=%s dependents not resolved: %s; retrying",
	    ((struct resolve_op *)op)->uuid, mdb_strerror(rc));
	later_retry(op);
}

static void
resolve_free(struct op *op)
{
	free(op);
}

/*
 * Run r has just ended (run_set_status(), r stored by the caller): it
 * leaves the waiting and ready lines, and its dependents are resolved
 * later in t's turn, in the same commit. 0 or an LMDB error.
 */
int
depend_ended(struct txn *t, struct run *r)
{
	struct resolve_op	*o;
	uint8_t			 k[LINE_LEN], *edges;
	size_t			 n;
	int			 rc;

	if (r->n_deps > 0) {
		wait_key(k, r->uuid);
		if ((rc = store_del(t, DB_RUNIDX, k, WAIT_LEN)) != 0)
			return rc;
	}
	if (r->ready_seq != 0) {
		line_key(k, r->cluster_uuid, r->ready_seq, r->uuid);
		if ((rc = store_del(t, DB_RUNIDX, k, LINE_LEN)) != 0)
			return rc;
		r->ready_seq = 0;
	}
	if ((rc = edges_of(t, r->uuid, 1, &edges, &n)) != 0)
		return rc;
	free(edges);
	if (n == 0)
		return 0;
	o = xcalloc(1, sizeof *o);
	o->op.apply = resolve_apply;
	o->op.fail = resolve_fail;
	o->op.free = resolve_free;
	memcpy(o->uuid, r->uuid, sizeof o->uuid);
	o->status = r->status;
	txn_then(t, &o->op);
	return 0;
}

/* ------------------------------------------------------------ reading */

/*
 * Run r's direct dependents, each once, into r->dependents (at most
 * DEPENDENTS_MAX, in uuid order). 0 or an LMDB error.
 */
int
depend_dependents(struct txn *t, struct run *r)
{
	uint8_t	*edges, *k;
	size_t	 n, i;
	int	 rc;

	if ((rc = edges_of(t, r->uuid, DEPENDENTS_MAX, &edges, &n)) != 0)
		return rc;
	r->dependents = xcalloc(n, sizeof *r->dependents);
	for (i = 0; i < n; i++) {
		k = edges + i * EDGE_LEN + 1 + UUID_LEN;
		if (r->n_dependents > 0 && memcmp(r->dependents[
		    r->n_dependents - 1], k, UUID_LEN) == 0)
			continue;
		r->dependents[r->n_dependents++] = xstrndup((char *)k,
		    UUID_LEN);
	}
	free(edges);
	return 0;
}

/*
 * Call fn(t, up, dependent, arg) for each direct dependent of up, each
 * once, until it returns non-zero (which is returned).
 */
int
depend_walk_down(struct txn *t, const char *up,
    int (*fn)(struct txn *, const char *, const char *, void *), void *arg)
{
	uint8_t	*edges, *k;
	char	 down[UUID_LEN + 1] = "";
	size_t	 n, i;
	int	 rc;

	if ((rc = edges_of(t, up, 0, &edges, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		k = edges + i * EDGE_LEN + 1 + UUID_LEN;
		if (memcmp(down, k, UUID_LEN) == 0)
			continue;
		snprintf(down, sizeof down, "%.*s", UUID_LEN, (char *)k);
		rc = fn(t, up, down, arg);
	}
	free(edges);
	return rc;
}

/* ------------------------------------------------------------ retention */

/*
 * Does a run still wait for run uuid (an edge not met yet)? Retention
 * keeps such a run. 0 or an LMDB error.
 */
int
depend_held(struct txn *t, const char *uuid, int *held)
{
	uint8_t		*edges, *k;
	struct run	 d;
	char		 down[UUID_LEN + 1];
	size_t		 n, i, b;
	int		 rc;

	*held = 0;
	if ((rc = edges_of(t, uuid, 0, &edges, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0 && !*held; i++) {
		k = edges + i * EDGE_LEN;
		snprintf(down, sizeof down, "%.*s", UUID_LEN,
		    (char *)k + 1 + UUID_LEN);
		b = k[1 + 2 * UUID_LEN];
		memset(&d, 0, sizeof d);
		if ((rc = store_get_run(t, down, &d)) == MDB_NOTFOUND) {
			rc = 0;
			continue;
		}
		*held = rc == 0 && d.status == RS_PENDING &&
		    d.reason == R_WAITING_DEPS && b < d.n_deps &&
		    !(d.deps_met & (uint64_t)1 << b);
		run_free(&d);
	}
	free(edges);
	return rc;
}

/* Run r is purged: its edges, both ways, and its rerun entry go. */
int
depend_purge(struct txn *t, const struct run *r)
{
	uint8_t	 k[EDGE_LEN], *edges;
	size_t	 n, i;
	int	 rc;

	for (i = 0; i < r->n_deps; i++) {
		edge_key(k, r->deps[i].uuid, r->uuid, i, r->deps[i].cond);
		if ((rc = store_del(t, DB_RUNIDX, k, sizeof k)) != 0)
			return rc;
	}
	if ((rc = edges_of(t, r->uuid, 0, &edges, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++)
		rc = store_del(t, DB_RUNIDX, edges + i * EDGE_LEN, EDGE_LEN);
	free(edges);
	if (rc == 0 && r->rerun_of[0] != '\0')
		rc = runidx_del(t, 'o', r->rerun_of, 0, r);
	return rc;
}

/* ------------------------------------------------------------ recovery */

/*
 * Waiting run uuid after a restart: each dependency not met whose upstream
 * has ended (or is gone) is resolved now.
 */
static int
recover_one(struct txn *t, const char *uuid)
{
	struct run	d, u;
	size_t		i;
	int		rc = 0;

	memset(&d, 0, sizeof d);
	if ((rc = store_get_run(t, uuid, &d)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	for (i = 0; i < d.n_deps && rc == 0; i++) {
		if (d.deps_met & (uint64_t)1 << i)
			continue;
		memset(&u, 0, sizeof u);
		if ((rc = store_get_run(t, d.deps[i].uuid, &u)) ==
		    MDB_NOTFOUND)
			rc = resolve_edge(t, d.deps[i].uuid, RS_NONE, uuid, i,
			    d.deps[i].cond);
		else if (rc == 0 && rstatus_terminal(u.status))
			rc = resolve_edge(t, u.uuid, u.status, uuid, i,
			    d.deps[i].cond);
		run_free(&u);
	}
	run_free(&d);
	return rc;
}

/*
 * At start (recover.c): every waiting run whose upstream ended while the
 * last life could not resolve it is resolved; none waits forever.
 */
int
depend_recover(struct txn *t)
{
	uint8_t	 pre = 'a', *keys;
	char	 uuid[UUID_LEN + 1];
	size_t	 n, i;
	int	 rc;

	if ((rc = keys_with(t, &pre, 1, WAIT_LEN, 0, &keys, &n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (char *)keys + i * WAIT_LEN + 1);
		rc = recover_one(t, uuid);
	}
	free(keys);
	if (n > 0)
		log_info("recovery: %zu runs waiting for dependencies checked",
		    n);
	return rc;
}
