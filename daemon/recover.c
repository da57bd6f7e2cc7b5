/*
 * recover.c: what a restart finds. Before the bus starts (run_recover()),
 * one op walks every cluster: a cluster whose run waits out a retry delay
 * gets its timer again; a run whose shim is still going is watched again
 * (exec_reattach()), one whose shim left a result (or none) is finished
 * with it, unless its job lives on where a new shim can adopt it (Slurm:
 * exec_adopt()); a shim caught starting is looked at again shortly; an idle
 * cluster is kicked; every queued run's limit on time in queue gets its
 * timer again (policy.c); every run waiting for dependencies whose
 * upstream ended is resolved (depend.c); the output of attempts that ended
 * before it was all on the bus is published to its end (logs.c). Loop
 * thread only; the state machine (run.c) does the transitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

static void	recheck_arm(void *);
static void	regrace_arm(void *);

/* A cluster to look at again, and how often it was looked at before. */
struct recheck {
	char		 cluster[UUID_LEN + 1];
	unsigned	 tries;
};

static struct recheck *
recheck_new(const char *cluster, unsigned tries)
{
	struct recheck	*rk;

	rk = xcalloc(1, sizeof *rk);
	snprintf(rk->cluster, sizeof rk->cluster, "%s", cluster);
	rk->tries = tries;
	return rk;
}

/*
 * Bring cluster uuid and the run it holds up to date after a restart; tries:
 * how many times before its shim was found starting.
 */
static int
recover_cluster(struct txn *t, const char *uuid, unsigned tries)
{
	struct cluster	c;
	struct run	r;
	struct result	res, lost;
	int64_t		wait;
	int		rc, found;

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
		run_retry(t, r.uuid, r.attempt, wait < 0 ? 0 : wait);
		goto out;
	}
	/*
	 * RUNNING, or cancelled before its process was gone: its shim goes on
	 * (watch it again), or left its result while batchd was away.
	 */
	if (r.n_attempts == 0 ||
	    r.attempts[r.n_attempts - 1].finished_ms != 0) {
		rc = run_finish(t, &r, &lost);
		goto out;
	}
	switch ((found = exec_reattach(t, r.ws, r.uuid, r.attempt, &res,
	    run_attempt_ended, run_note))) {
	case 1:
		if (rstatus_terminal(r.status))
			exec_kill(r.uuid, r.attempt);
		break;
	case 2:
		/*
		 * A shim holds the attempt's lock without its pid yet: it is
		 * starting (the pid is its first write), here or, under HA,
		 * on the machine of the node that led before.
		 */
		if (tries == 0)
			log_info("run=%s attempt=%u: its shim is starting; "
			    "looking again", r.uuid, r.attempt);
		txn_defer(t, recheck_arm, recheck_new(c.uuid, tries + 1),
		    free);
		break;
	default:
		/*
		 * HA: no shim here and no result may mean an attempt on the
		 * node that led before, whose result can still come (shared
		 * runs_dir) until ha_grace_s after this node took over.
		 */
		if (res.reason == R_SUPERVISOR_LOST &&
		    (wait = ha_grace_left()) > 0) {
			log_info("run=%s attempt=%u: no shim found; %s "
			    "unless it reports within %lld ms", r.uuid,
			    r.attempt, found == 3 ? "its job adopted" : "lost",
			    (long long)wait);
			txn_defer(t, regrace_arm, recheck_new(c.uuid, 0),
			    free);
			break;
		}
		/* Its job lives on (3): a new shim takes it over. */
		if (found == 3 && exec_adopt(t, &r, &res, run_attempt_ended,
		    run_note) == 0) {
			if (rstatus_terminal(r.status))
				exec_kill(r.uuid, r.attempt);
			break;
		}
		rc = run_finish(t, &r, &res);
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
	struct recheck	rk;
};

/* Look at the cluster again. */
static int
recheck_apply(struct op *op, struct txn *t)
{
	struct recheck	*rk = &((struct recheck_op *)op)->rk;

	return recover_cluster(t, rk->cluster, rk->tries);
}

/* The look could not commit: again in a second. */
static void
recheck_fail(struct op *op, int rc)
{
	log_warnx("cluster=%s recovery not stored: %s; retrying",
	    ((struct recheck_op *)op)->rk.cluster, mdb_strerror(rc));
	later_retry(op);
}

/* Free a recheck op. */
static void
recheck_free(struct op *op)
{
	free(op);
}

/* Look at cluster rk again in ms. */
static void
recheck_after(const struct recheck *rk, int64_t ms)
{
	struct recheck_op	*o;

	o = xcalloc(1, sizeof *o);
	o->op.apply = recheck_apply;
	o->op.fail = recheck_fail;
	o->op.free = recheck_free;
	o->rk = *rk;
	later_submit(&o->op, ms);
}

/*
 * A shim caught starting: again in 200 ms, then less often, up to every
 * RECHECK_MAX_MS (one that never writes its pid holds its lock until it
 * ends).
 */
#define RECHECK_MAX_MS	5000

static void
recheck_arm(void *arg)
{
	const struct recheck	*rk = arg;
	int64_t			 ms = 200;
	unsigned		 i;

	for (i = 1; i < rk->tries && ms < RECHECK_MAX_MS; i++)
		ms *= 2;
	recheck_after(rk, ms < RECHECK_MAX_MS ? ms : RECHECK_MAX_MS);
}

/* HA: an attempt of the node before, unseen: again when the grace ends. */
static void
regrace_arm(void *arg)
{
	int64_t	wait = ha_grace_left();

	recheck_after(arg, wait > 0 ? wait : 0);
}

/* Recover every cluster, in one op. */
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
		rc = recover_cluster(t, ids[i], 0);
	if (rc == 0)
		rc = queuetime_recover(t);
	if (rc == 0)
		rc = depend_recover(t);
	if (rc == 0)
		rc = logs_recover(t);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	log_info("recovery: %zu clusters checked", n);
	return rc;
}

/* Recovery could not commit: batchd cannot go on. */
static void
recover_fail(struct op *op, int rc)
{
	fatal_code(EXIT_STORAGE, "recovery failed: %s", mdb_strerror(rc));
	(void)op;
}

/* The recovery op is static: nothing to free. */
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
