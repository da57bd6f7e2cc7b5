/*
 * runverb.c: the run.* verbs but run.list (runidx.c): submission,
 * cancellation, a run and its history, and the entry of run.logs, whose
 * handler reads the log files (logs.c). Each handler is called inside the
 * loop turn's transaction with a request its decoder (wire-request.c) has
 * decoded and checked for shape; it checks meaning (the definition
 * exists, the cluster takes runs, the run has not ended), drives the state
 * machine (run.c) and writes its reply, or sets e and changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* ------------------------------------------------------------ submit */

/* Set over's variables in dst, replacing those of the same name. */
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


/* A submission being made: what run.submit and run.submit_sql share. */
struct submit {
	struct jobdef	 d;
	struct cluster	 c;
	struct run	 r;
	struct jobconfig snap;		/* what the run shares: store.c */
	const struct clusterconfig *cc;	/* of an ephemeral cluster, or NULL */
	const char	*no_cluster;	/* why, then, cluster_uuid is required */
	int		 have_def, have_cluster;
	int		 answered;	/* the reply is written */
};

/*
 * The start of a submission: a repeated idempotency key is answered with
 * the first run (s->answered), a workspace at its quota is refused (e);
 * else the new run gets its uuid. 0 or a storage error.
 */
static int
submit_begin(struct txn *t, struct request *q, struct submit *s,
    struct buf *out, struct error *e)
{
	uint64_t	nruns;
	int		rc;

	memset(s, 0, sizeof *s);
	if (q->idem_key != NULL) {
		char	id[UUID_LEN + 1];

		rc = store_resolve_name(t, DB_IDEM, q->ws, q->idem_key, id);
		if (rc == 0) {
			s->answered = 1;
			if ((rc = store_get_run(t, id, &s->r)) == 0 &&
			    out != NULL)
				rc = reply_run(t, &s->r, out);
			return rc;
		}
		if (rc != MDB_NOTFOUND)
			return rc;
	}
	if ((rc = store_ws_count(t, "runs", q->ws, 0, &nruns)) != 0)
		return rc;
	if (cfg->quota_runs != 0 && nruns >= cfg->quota_runs) {
		error_set(e, E_RESOURCE_EXHAUSTED, "", "workspace '%s' holds "
		    "%llu runs, its quota (quota_runs = %u): wait for retention "
		    "to remove finished ones", q->ws,
		    (unsigned long long)nruns, cfg->quota_runs);
		return 0;
	}
	uuid_new(s->r.uuid);
	s->r.ws = xstrdup(q->ws);
	return 0;
}

/* run.submit's run: its definition's configuration, args and cluster. */
static int
submit_def(struct txn *t, struct request *q, struct submit *s,
    struct error *e)
{
	struct run	*r = &s->r;
	int		 rc;

	if (q->def_uuid == NULL) {
		error_set(e, E_INVALID, "job_definition_uuid",
		    "job_definition_uuid is required");
		return 0;
	}
	if ((rc = store_get_jobdef(t, q->def_uuid, &s->d)) == 0)
		s->have_def = 1;
	if (rc == MDB_NOTFOUND || (rc == 0 && strcmp(s->d.ws, q->ws) != 0)) {
		error_set(e, E_NOT_FOUND, "job_definition_uuid",
		    "job definition '%s' not found in workspace '%s'",
		    q->def_uuid, q->ws);
		return 0;
	}
	if (rc != 0)
		return rc;
	memcpy(r->def_uuid, s->d.uuid, sizeof r->def_uuid);
	if (policy_validate_overrides(q, e) == -1)
		return 0;
	/* The overrides are part of what the run shares (its snapshot). */
	jobconfig_copy(&s->snap, &s->d.config);
	policy_apply_overrides(&s->snap, q);
	jobconfig_copy(&r->config, &s->snap);
	if (q->has_args) {
		if (args_valid(q->args, "args", e) == -1)
			return 0;
		free(r->config.args);
		r->config.args = xstrdup(q->args);
		r->has_args = 1;
		r->args = xstrdup(q->args);
	}
	if (q->has_cluster)		/* a schedule's cluster_config */
		s->cc = &q->cluster;
	else if (s->d.has_cluster)
		s->cc = &s->d.cluster;
	s->no_cluster = "the job definition has no default cluster "
	    "configuration";
	return 0;
}

/* run.submit_sql's run: the query, SQL defaults and its cluster_config. */
static void
submit_query(struct request *q, struct submit *s, struct error *e)
{
	if (q->sql == NULL) {
		error_set(e, E_INVALID, "sql_query", "sql_query is required");
		return;
	}
	s->snap.type = JT_SQL;
	jobconfig_fill_defaults(&s->snap);
	jobconfig_copy(&s->r.config, &s->snap);
	s->r.sql = xstrdup(q->sql);
	if (q->has_cluster) {
		if (jobconfig_validate_cluster(&q->cluster, "cluster_config",
		    e) == -1)
			return;
		s->cc = &q->cluster;
	}
	s->no_cluster = "the request gives no cluster_config";
}

/*
 * The cluster the run goes to: the one named, or a new ephemeral one; a
 * paused cluster resumes if it may, a full one refuses (e). 0 or a storage
 * error.
 */
static int
submit_cluster(struct txn *t, struct request *q, struct submit *s,
    struct error *e)
{
	struct cluster	*c = &s->c;
	int		 rc;

	if (q->cluster_uuid != NULL) {
		if ((rc = cluster_load(t, q->ws, q->cluster_uuid, NULL, c,
		    e)) != 0)
			return rc;
		if (e->code != E_OK) {
			snprintf(e->field, sizeof e->field, "cluster_uuid");
			return 0;
		}
		s->have_cluster = 1;
	} else if (s->cc != NULL) {
		rc = ephemeral_cluster(t, q->ws, s->r.uuid, s->cc, c, e);
		s->have_cluster = 1;
		if (rc != 0 || e->code != E_OK)
			return rc;
		s->r.ephemeral = 1;
	} else {
		error_set(e, E_INVALID, "cluster_uuid", "cluster_uuid is "
		    "required: %s", s->no_cluster);
		return 0;
	}
	if (c->state == CL_PAUSED) {
		if (!c->auto_resume) {
			error_set(e, E_PAUSED, "cluster_uuid", "cluster '%s' "
			    "is paused and does not resume on submission",
			    c->uuid);
			return 0;
		}
		c->state = CL_RUNNING;
		log_info("cluster resumed by submission ws=%s cluster=%s",
		    c->ws, c->uuid);
	}
	if (!depend_waiting(&s->r) && c->queued >= cfg->queue_cap)
		error_set(e, E_QUEUE_FULL, "cluster_uuid", "cluster '%s' has "
		    "%u runs queued, the most it takes", c->uuid, c->queued);
	return 0;
}

/*
 * Store the new run: queued last on its cluster, its configuration
 * snapshot, idempotency key and index entries, PENDING; the reply. 0 or a
 * storage error.
 */
static int
submit_store(struct txn *t, struct request *q, struct submit *s,
    struct buf *out)
{
	struct cluster	*c = &s->c;
	struct run	*r = &s->r;
	struct buf	 key = { 0 };
	int		 rc, waiting = depend_waiting(r);

	memcpy(r->cluster_uuid, c->uuid, sizeof r->cluster_uuid);
	r->workers = c->config.workers;
	r->version = c->config.version != NULL ?
	    xstrdup(c->config.version) : NULL;
	r->instance_type = c->config.instance_type != NULL ?
	    xstrdup(c->config.instance_type) : NULL;
	r->submitted_ms = now_ms();
	if (q->idem_key != NULL)
		r->idem_key = xstrdup(q->idem_key);
	if (q->sched_uuid != NULL) {
		snprintf(r->sched_uuid, sizeof r->sched_uuid, "%s",
		    q->sched_uuid);
		r->scheduled_for_ms = q->scheduled_for_ms;
		r->pause_when_finished = q->pause_when;
	}
	/* A run waiting for dependencies is in no queue yet (depend.c). */
	if (!waiting) {
		r->queue_seq = c->queue_next++;
		c->queued++;
		if ((rc = queuetime_enter(t, r, r->submitted_ms)) != 0)
			goto out;
	}
	/* The definition's configuration is stored once for all its runs;
	 * this one's record holds its key, its args and its env. */
	if ((rc = store_config_ref(t, &s->snap, r->config_ref)) != 0 ||
	    (rc = store_ws_count(t, "runs", r->ws, 1, NULL)) != 0)
		goto out;
	r->has_config_ref = 1;
	if ((rc = store_run_id(t, r)) != 0 ||
	    (!waiting &&
	    (rc = queue_put(t, c->uuid, r->queue_seq, r->uuid)) != 0) ||
	    (rc = store_put_cluster(t, c)) != 0 ||
	    (rc = depend_store(t, r)) != 0)
		goto out;
	if (q->idem_key != NULL) {
		store_name_key(&key, q->ws, q->idem_key);
		if ((rc = store_put(t, DB_IDEM, key.p, key.len, r->uuid,
		    UUID_LEN)) != 0)
			goto out;
	}
	if ((rc = runidx_put(t, 'w', r->ws, 0, r)) != 0 ||
	    (r->def_uuid[0] != '\0' &&
	    (rc = runidx_put(t, 'd', r->def_uuid, 0, r)) != 0) ||
	    (rc = runidx_put(t, 'c', r->cluster_uuid, 0, r)) != 0 ||
	    (r->sched_uuid[0] != '\0' &&
	    ((rc = runidx_put(t, 'h', r->sched_uuid, 0, r)) != 0 ||
	    (rc = runidx_put(t, 'l', r->sched_uuid, 0, r)) != 0)))
		goto out;
	if ((rc = run_set_status(t, r, RS_PENDING, waiting ? R_WAITING_DEPS :
	    c->active_run[0] == '\0' && c->queued == 1 ?
	    R_RECENTLY_SUBMITTED : R_IN_QUEUE, NULL)) != 0 ||
	    (rc = store_put_run(t, r)) != 0)
		goto out;
	/* Else the end of the active run kicks. */
	if (!waiting && c->active_run[0] == '\0')
		run_kick(t, c->uuid);
	r->queue_position = waiting ? 0 : c->queued;	/* last: no walk */
	if (out != NULL)		/* a schedule's fire needs no reply */
		wire_reply_run(out, r);
out:
	buf_free(&key);
	return rc;
}

/* The run's env over its configuration's, its cluster, and it stored. */
static int
submit_finish(struct txn *t, struct request *q, struct submit *s,
    struct buf *out, struct error *e)
{
	int	rc;

	if ((rc = depend_check(t, q, &s->r, e)) != 0 || e->code != E_OK)
		return rc;
	s->r.type = s->r.config.type;
	merge_env(&s->r.config.env, &q->env);
	kvlist_copy(&s->r.env, &q->env);
	if ((rc = submit_cluster(t, q, s, e)) != 0 || e->code != E_OK)
		return rc;
	return submit_store(t, q, s, out);
}

/* Free what a submission holds. */
static void
submit_free(struct submit *s)
{
	if (s->have_def)
		jobdef_free(&s->d);
	if (s->have_cluster)
		cluster_free(&s->c);
	run_free(&s->r);
	jobconfig_free(&s->snap);
}

/*
 * A run of job definition q->def_uuid, as run.submit makes it; also for a
 * schedule's fire (q->sched_uuid, q->scheduled_for_ms, q->pause_when, and
 * q->cluster for a new cluster instead of the definition's) and an item of
 * run.submit_batch. The reply (JobRunReply) into out unless NULL; the new
 * run's uuid (a repeated idempotency key's: the first run's) into made
 * (UUID_LEN + 1 bytes, "" if none) unless NULL. 0 (e set: refused, nothing
 * changed) or a storage error.
 */
int
run_submit_request(struct txn *t, struct request *q, struct buf *out,
    struct error *e, char *made)
{
	struct submit	s;
	int		rc;

	if (made != NULL)
		*made = '\0';
	if ((rc = submit_begin(t, q, &s, out, e)) == 0 && !s.answered &&
	    e->code == E_OK && (rc = submit_def(t, q, &s, e)) == 0 &&
	    e->code == E_OK)
		rc = submit_finish(t, q, &s, out, e);
	if (rc == 0 && e->code == E_OK && made != NULL)
		memcpy(made, s.r.uuid, UUID_LEN + 1);
	submit_free(&s);
	return rc;
}

/* The configuration snapshot run r executes, into c (zeroed). */
static int
snapshot_of(struct txn *t, const struct run *r, struct jobconfig *c)
{
	MDB_val	v;
	int	rc;

	if (!r->has_config_ref) {	/* its record holds it */
		jobconfig_copy(c, &r->config);
		return 0;
	}
	if ((rc = store_get(t, DB_CONFIGS, r->config_ref, CONFIG_REF_LEN,
	    &v)) != 0)
		return rc == MDB_NOTFOUND ? EIO : rc;
	return wire_decode_jobconfig(v.mv_data, v.mv_size, c) == -1 ? EIO : 0;
}

/*
 * A new run of what run old ran (run.rerun): its definition, configuration
 * snapshot, args, env and cluster, or a new ephemeral cluster of the same
 * configuration; q gives the workspace, env (old's) and depends_on, and
 * cluster_uuid unless old's cluster was ephemeral. rerun_of is old. Its
 * uuid into made (UUID_LEN + 1 bytes). 0 (e set: refused) or a storage
 * error.
 */
int
run_submit_again(struct txn *t, struct request *q, const struct run *old,
    struct error *e, char *made)
{
	struct submit		s;
	struct clusterconfig	cc;
	int			rc;

	*made = '\0';
	if ((rc = submit_begin(t, q, &s, NULL, e)) != 0 || e->code != E_OK ||
	    (rc = snapshot_of(t, old, &s.snap)) != 0)
		goto out;
	memcpy(s.r.def_uuid, old->def_uuid, sizeof s.r.def_uuid);
	memcpy(s.r.rerun_of, old->uuid, sizeof s.r.rerun_of);
	jobconfig_copy(&s.r.config, &s.snap);
	if ((s.r.has_args = old->has_args)) {
		s.r.args = xstrdup(old->args != NULL ? old->args : "");
		free(s.r.config.args);
		s.r.config.args = *s.r.args != '\0' ? xstrdup(s.r.args) : NULL;
	}
	if (old->sql != NULL)
		s.r.sql = xstrdup(old->sql);
	cc.workers = old->workers;
	cc.version = old->version;
	cc.instance_type = old->instance_type;
	if (old->ephemeral)
		s.cc = &cc;	/* borrowed: submit_free() leaves it */
	s.no_cluster = "its cluster is gone";
	if ((rc = submit_finish(t, q, &s, NULL, e)) == 0 && e->code == E_OK)
		memcpy(made, s.r.uuid, UUID_LEN + 1);
out:
	submit_free(&s);
	return rc;
}

/* run.submit: a run of a job definition. */
static int
run_submit(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	return run_submit_request(t, q, out, e, NULL);
}

const struct verb_entry run_submit_entry = {
	.name = "run.submit",
	.decode = wire_request_run_submit,
	.exec = run_submit,
	.object = "job_definition_uuid",
};

/* run.submit_sql: a run of one SQL query. */
static int
run_submit_sql(struct txn *t, struct request *q, struct buf *out,
    struct error *e)
{
	struct submit	s;
	int		rc;

	if ((rc = submit_begin(t, q, &s, out, e)) == 0 && !s.answered &&
	    e->code == E_OK) {
		submit_query(q, &s, e);
		if (e->code == E_OK)
			rc = submit_finish(t, q, &s, out, e);
	}
	submit_free(&s);
	return rc;
}

const struct verb_entry run_submit_sql_entry = {
	.name = "run.submit_sql",
	.decode = wire_request_run_submit_sql,
	.exec = run_submit_sql,
	.object = "sql_query",
};

/* ------------------------------------------------------------ cancel */

/* run.cancel: cancel one run that has not ended. */
static int
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
	else if ((rc = run_cancel_one(t, &r)) == 0)
		rc = reply_run(t, &r, out);
	run_free(&r);
	return rc;
}

const struct verb_entry run_cancel_entry = {
	.name = "run.cancel",
	.decode = wire_request_run_get,
	.exec = run_cancel,
	.object = "uuid",
};

struct cancel_all {
	struct request	 *q;
	char		**done;
	size_t		  n;
};

/* Cancel run uuid if it matches run.cancel_all's filters. */
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
	if (match && (rc = run_cancel_one(t, &r)) == 0) {
		ca->done = xreallocarray(ca->done, ca->n + 1,
		    sizeof *ca->done);
		ca->done[ca->n++] = xstrdup(r.uuid);
	}
	run_free(&r);
	return rc;
}

/* run.cancel_all: cancel the live runs of a definition or of clusters. */
static int
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
	if ((rc = runidx_walk_status(t, q->ws, RS_PENDING, cancel_match, &ca)) == 0 &&
	    (rc = runidx_walk_status(t, q->ws, RS_RUNNING, cancel_match, &ca)) == 0)
		wire_reply_cancelled(out, ca.done, ca.n);
	for (i = 0; i < ca.n; i++)
		free(ca.done[i]);
	free(ca.done);
	return rc;
}

const struct verb_entry run_cancel_all_entry = {
	.name = "run.cancel_all",
	.decode = wire_request_run_cancel_all,
	.exec = run_cancel_all,
	.object = "job_definition_uuid",
};

/* ------------------------------------------------------------ reading */

/* run.get: a run and its place in the queue. */
static int
run_get(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct run	r;
	int		rc;

	memset(&r, 0, sizeof r);
	if ((rc = run_load(t, q->ws, q->uuid, &r, e)) != 0 || e->code != E_OK)
		return rc;
	if ((rc = depend_dependents(t, &r)) == 0)
		rc = reply_run(t, &r, out);
	run_free(&r);
	return rc;
}

const struct verb_entry run_get_entry = {
	.name = "run.get",
	.decode = wire_request_run_get,
	.exec = run_get,
	.object = "uuid",
};

/* run.events: a run's stored history of status events. */
static int
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

const struct verb_entry run_events_entry = {
	.name = "run.events",
	.decode = wire_request_run_get,
	.exec = run_events,
	.object = "uuid",
};

/* run.logs: its handler is logs_read() (logs.c), beside the log files. */
const struct verb_entry run_logs_entry = {
	.name = "run.logs",
	.decode = wire_request_run_logs,
	.exec = logs_read,
	.object = "uuid",
};
