/*
 * runbatch.c: the verbs that make several runs at once: run.submit_batch
 * (a pipeline in one request, its items depending on earlier ones by
 * index) and run.rerun (a run again, and with repair_downstream the runs
 * downstream of it that its failure cancelled, rewired to the new runs).
 *
 * Each makes all its runs in one commit or none: an item refused after
 * those before it were written returns ECANCELED with e set, and api.c
 * undoes the request's writes and answers e. A dependency may only name an
 * earlier item, and reruns are made in submission order (a run's
 * upstreams are always older than it), so no cycle can be written.
 * Submission itself is runverb.c's, dependencies depend.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

typedef char	 uuid_s[UUID_LEN + 1];

/* The runs made, in order, into the reply (SubmitJobRunsReply). */
static int
reply_made(struct txn *t, uuid_s *made, size_t n, struct buf *out)
{
	struct run	*runs;
	size_t		 i;
	int		 rc = 0;

	runs = xcalloc(n, sizeof *runs);
	for (i = 0; i < n && rc == 0; i++)
		if ((rc = store_get_run(t, made[i], &runs[i])) == 0)
			rc = queue_position(t, &runs[i]);
	if (rc == 0)
		wire_reply_submitted(out, runs, n);
	for (i = 0; i < n; i++)
		run_free(&runs[i]);
	free(runs);
	return rc;
}

/* ------------------------------------------------------------ batch */

/*
 * Item i's dependencies on earlier items (index) become their runs'
 * uuids; -1 with e set if one names no earlier item.
 */
static int
batch_rewire(struct request *item, size_t i, uuid_s *made, struct error *e)
{
	struct dep	*d;
	char		 f[64];
	size_t		 j;

	for (j = 0; j < item->n_deps; j++) {
		d = &item->deps[j];
		if (!d->has_index)
			continue;
		if (d->index >= i) {
			snprintf(f, sizeof f, "depends_on[%zu].index", j);
			error_set(e, E_INVALID, f, "%s is %u: it must name an "
			    "earlier item (this is item %zu)", f, d->index,
			    i);
			return -1;
		}
		memcpy(d->uuid, made[d->index], sizeof d->uuid);
		d->has_index = 0;
	}
	return 0;
}

/* run.submit_batch: every item as run.submit makes it, in one commit. */
static int
run_submit_batch(struct txn *t, struct request *q, struct buf *out,
    struct error *e)
{
	uuid_s	*made;
	size_t	 i;
	int	 rc = 0;

	made = xcalloc(q->n_items, sizeof *made);
	for (i = 0; i < q->n_items && rc == 0; i++) {
		q->items[i].reply_max = q->reply_max;
		if (batch_rewire(&q->items[i], i, made, e) == 0)
			rc = run_submit_request(t, &q->items[i], NULL, e,
			    made[i]);
		if (rc == 0 && e->code != E_OK) {
			error_within(e, "runs", i);
			rc = ECANCELED;		/* undo the items before */
		}
	}
	if (rc == 0)
		rc = reply_made(t, made, q->n_items, out);
	free(made);
	return rc;
}

const struct verb_entry run_submit_batch_entry = {
	.name = "run.submit_batch",
	.decode = wire_request_run_submit_batch,
	.exec = run_submit_batch,
	.object = "runs",
};

/* ------------------------------------------------------------ rerun */

/* A run to make again: the old one, and its rerun once made. */
struct again {
	struct run	 old;
	uuid_s		 made;
};

/* What run.rerun has found and made. */
struct rerun {
	struct again	*v;
	size_t		 n;
	struct error	*e;
};

/* Is run uuid one of those to make again? Its place, or -1. */
static ssize_t
rerun_find(const struct rerun *rr, const char *uuid)
{
	size_t	i;

	for (i = 0; i < rr->n; i++)
		if (strcmp(rr->v[i].old.uuid, uuid) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * depend_walk_down(): run down, downstream of up, is made again if the
 * failure cancelled it (UPSTREAM_FAILED).
 */
static int
rerun_visit(struct txn *t, const char *up, const char *down, void *arg)
{
	struct rerun	*rr = arg;
	struct run	 d;
	int		 rc;

	(void)up;
	if (rerun_find(rr, down) != -1)
		return 0;
	memset(&d, 0, sizeof d);
	if ((rc = store_get_run(t, down, &d)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (d.status != RS_CANCELLED || d.reason != R_UPSTREAM_FAILED) {
		run_free(&d);
		return 0;
	}
	if (rr->n == BATCH_MAX) {
		run_free(&d);
		error_set(rr->e, E_PRECONDITION, "repair_downstream", "more "
		    "than %d runs downstream to repair", BATCH_MAX);
		return ECANCELED;
	}
	rr->v = xreallocarray(rr->v, rr->n + 1, sizeof *rr->v);
	memset(&rr->v[rr->n], 0, sizeof rr->v[rr->n]);
	rr->v[rr->n++].old = d;
	return 0;
}

/* Submission order: a run's upstreams always come before it. */
static int
again_cmp(const void *a, const void *b)
{
	const struct again	*x = a, *y = b;

	return x->old.id < y->old.id ? -1 : x->old.id > y->old.id;
}

/*
 * Make rr->v[i] again: its dependencies on runs made again point to
 * their reruns, the others stay. 0 (e set: refused) or a storage error.
 */
static int
rerun_one(struct txn *t, struct request *q, struct rerun *rr, size_t i)
{
	struct request	 s;
	struct run	*old = &rr->v[i].old;
	ssize_t		 up;
	size_t		 j;
	int		 rc;

	memset(&s, 0, sizeof s);
	memcpy(s.ws, q->ws, sizeof s.ws);
	s.verb = q->verb;
	kvlist_copy(&s.env, &old->env);
	if (!old->ephemeral)
		s.cluster_uuid = xstrdup(old->cluster_uuid);
	s.deps = xcalloc(old->n_deps, sizeof *s.deps);
	s.n_deps = old->n_deps;
	for (j = 0; j < old->n_deps; j++) {
		s.deps[j] = old->deps[j];
		if ((up = rerun_find(rr, old->deps[j].uuid)) != -1)
			memcpy(s.deps[j].uuid, rr->v[up].made, UUID_LEN + 1);
	}
	rc = run_submit_again(t, &s, old, rr->e, rr->v[i].made);
	if (rc == 0 && rr->e->code != E_OK)
		snprintf(rr->e->field, sizeof rr->e->field, "%s",
		    i == 0 ? "uuid" : "repair_downstream");
	request_free(&s);
	return rc;
}

/* run.rerun: an ended run again; with repair_downstream, what it broke. */
static int
run_rerun(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct rerun	 rr = { NULL, 0, e };
	uuid_s		*made;
	size_t		 i;
	int		 rc;

	rr.v = xcalloc(1, sizeof *rr.v);
	if ((rc = run_load(t, q->ws, q->uuid, &rr.v[0].old, e)) != 0 ||
	    e->code != E_OK)
		goto out;
	rr.n = 1;
	if (!rstatus_terminal(rr.v[0].old.status)) {
		error_set(e, E_PRECONDITION, "uuid", "run '%s' is %s: only "
		    "an ended run is run again", q->uuid,
		    rstatus_name(rr.v[0].old.status));
		goto out;
	}
	/* Breadth first through the runs the failure cancelled. */
	for (i = 0; q->repair && i < rr.n && rc == 0; i++)
		rc = depend_walk_down(t, rr.v[i].old.uuid, rerun_visit, &rr);
	if (rc != 0)
		goto out;
	qsort(rr.v + 1, rr.n - 1, sizeof *rr.v, again_cmp);
	for (i = 0; i < rr.n && rc == 0 && e->code == E_OK; i++)
		rc = rerun_one(t, q, &rr, i);
	if (rc == 0 && e->code != E_OK)
		rc = ECANCELED;			/* undo the runs before */
	if (rc == 0 && e->code == E_OK) {
		made = xcalloc(rr.n, sizeof *made);
		for (i = 0; i < rr.n; i++)
			memcpy(made[i], rr.v[i].made, sizeof made[i]);
		rc = reply_made(t, made, rr.n, out);
		free(made);
	}
out:
	for (i = 0; i < rr.n || i == 0; i++)
		run_free(&rr.v[i].old);
	free(rr.v);
	return rc;
}

const struct verb_entry run_rerun_entry = {
	.name = "run.rerun",
	.decode = wire_request_run_rerun,
	.exec = run_rerun,
	.object = "uuid",
};
