/*
 * wire-record.c: LMDB records. A record is the message the API returns
 * (secrets in clear), so it is readable with protoc; a run's record holds
 * its configuration snapshot's key instead of the configuration. Records
 * are decoded with wire.c's converters unchecked (batchd wrote them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/* A definition's record. */
void
wire_encode_jobdef(struct buf *b, const struct jobdef *d)
{
	struct pb_jobdef	p;

	wire_jobdef_out(&p, d, 0);
	wire_pack(b, &p.d.base);
	wire_jobdef_out_free(&p);
}

/* A copy of a record's string; NULL for "". */
static char *
dup_in(const char *s)
{
	return s == NULL || *s == '\0' ? NULL : xstrdup(s);
}

/* A record's UUID into a fixed-size field. */
static void
uuid_rec(char *dst, const char *src)
{
	snprintf(dst, UUID_LEN + 1, "%s", src == NULL ? "" : src);
}

/* Decode a stored definition into d (zeroed by the caller); 0 or -1. */
int
wire_decode_jobdef(const void *data, size_t len, struct jobdef *d)
{
	Batchd__V1__JobDefinition	*m;

	m = batchd__v1__job_definition__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(d->uuid, m->uuid);
	d->ws = xstrdup(m->workspace);
	d->name = xstrdup(m->name);
	d->description = dup_in(m->description);
	if (m->config != NULL)
		wire_jobconfig_in(&d->config, m->config, NULL, NULL);
	if ((d->has_cluster = m->cluster_config != NULL))
		wire_clusterconfig_in(&d->cluster, m->cluster_config, NULL,
		    NULL);
	d->created_ms = m->created_at_ms;
	d->updated_ms = m->updated_at_ms;
	batchd__v1__job_definition__free_unpacked(m, NULL);
	return 0;
}

/* A cluster's record. */
void
wire_encode_cluster(struct buf *b, const struct cluster *c)
{
	Batchd__V1__Cluster		m;
	Batchd__V1__ClusterConfig	cc;

	wire_cluster_out(&m, &cc, c);
	wire_pack(b, &m.base);
}

/* Decode a stored cluster into c (zeroed by the caller); 0 or -1. */
int
wire_decode_cluster(const void *data, size_t len, struct cluster *c)
{
	Batchd__V1__Cluster	*m;

	m = batchd__v1__cluster__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(c->uuid, m->uuid);
	c->ws = xstrdup(m->workspace);
	c->name = xstrdup(m->name);
	if (m->config != NULL)
		wire_clusterconfig_in(&c->config, m->config, NULL, NULL);
	c->state = (enum clstate)m->state;
	c->auto_resume = m->auto_resume;
	c->ephemeral = m->ephemeral;
	c->queued = m->queued;
	uuid_rec(c->active_run, m->active_run_uuid);
	c->created_ms = m->created_at_ms;
	c->queue_next = m->queue_next;
	batchd__v1__cluster__free_unpacked(m, NULL);
	return 0;
}

/* A run whole, its snapshot's key too (a copy, tests). */
void
wire_encode_run(struct buf *b, const struct run *r)
{
	struct pb_run	p;

	wire_run_out(&p, r, 0);
	if (r->has_config_ref) {
		p.r.config_ref.data = (uint8_t *)r->config_ref;
		p.r.config_ref.len = CONFIG_REF_LEN;
	}
	wire_pack(b, &p.r.base);
	wire_run_out_free(&p);
}

/*
 * A run's storage record: with a snapshot, its key instead of the
 * configuration, which store_get_run() rebuilds from the snapshot, the
 * run's args and env (all that the run's own request carried).
 */
void
wire_encode_run_record(struct buf *b, const struct run *r)
{
	struct pb_run	p;

	wire_run_out(&p, r, 0);
	if (r->has_config_ref) {
		p.r.config = NULL;
		p.r.config_ref.data = (uint8_t *)r->config_ref;
		p.r.config_ref.len = CONFIG_REF_LEN;
	}
	wire_pack(b, &p.r.base);
	wire_run_out_free(&p);
}

/* A configuration snapshot's record (store.c "configs"). */
void
wire_encode_jobconfig(struct buf *b, const struct jobconfig *c)
{
	struct pb_jobconfig	p;

	wire_jobconfig_out(&p, c, 0);
	wire_pack(b, &p.c.base);
	wire_jobconfig_out_free(&p);
}

/* Decode a snapshot into c (zeroed by the caller); 0 or -1. */
int
wire_decode_jobconfig(const void *data, size_t len, struct jobconfig *c)
{
	Batchd__V1__JobConfig	*m;

	if ((m = batchd__v1__job_config__unpack(NULL, len, data)) == NULL)
		return -1;
	wire_jobconfig_in(c, m, NULL, NULL);
	batchd__v1__job_config__free_unpacked(m, NULL);
	return 0;
}

/* A record's ResourceUsage into u. */
static void
usage_rec(struct usage *u, const Batchd__V1__ResourceUsage *m)
{
	if (m == NULL)
		return;
	u->user_us = m->user_cpu_us;
	u->sys_us = m->system_cpu_us;
	u->maxrss_kb = m->max_rss_kb;
	u->wall_ms = m->wall_ms;
}

/* Decode a stored run into r (zeroed by the caller); 0 or -1. */
int
wire_decode_run(const void *data, size_t len, struct run *r)
{
	Batchd__V1__JobRun	*m;
	size_t			 i;

	m = batchd__v1__job_run__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(r->uuid, m->uuid);
	uuid_rec(r->def_uuid, m->job_definition_uuid);
	uuid_rec(r->cluster_uuid, m->cluster_uuid);
	r->ws = xstrdup(m->workspace);
	r->type = (enum jobtype)m->type;
	r->status = (enum rstatus)m->status;
	r->reason = (enum reason)m->reason;
	r->reason_text = dup_in(m->reason_text);
	r->attempt = m->attempt;
	if ((r->has_exit = m->exit_code_opt_case ==
	    BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE))
		r->exit_code = m->exit_code;
	r->submitted_ms = m->submitted_at_ms;
	r->started_ms = m->started_at_ms;
	r->finished_ms = m->finished_at_ms;
	if ((r->has_args = m->args_opt_case == BATCHD__V1__JOB_RUN__ARGS_OPT_ARGS))
		r->args = xstrdup(m->args);
	wire_env_in(&r->env, (void **)m->env, m->n_env, NULL, NULL);
	r->sql = dup_in(m->sql_query);
	r->idem_key = dup_in(m->idempotency_key);
	r->attempts = xcalloc(m->n_attempts, sizeof *r->attempts);
	r->n_attempts = m->n_attempts;
	for (i = 0; i < m->n_attempts; i++) {
		const Batchd__V1__JobRunAttempt	*a = m->attempts[i];
		struct attempt			*o = &r->attempts[i];

		o->n = a->attempt;
		o->status = (enum rstatus)a->status;
		o->reason = (enum reason)a->reason;
		o->reason_text = dup_in(a->reason_text);
		if ((o->has_exit = a->exit_code_opt_case ==
		    BATCHD__V1__JOB_RUN_ATTEMPT__EXIT_CODE_OPT_EXIT_CODE))
			o->exit_code = a->exit_code;
		o->sig = a->signal;
		o->started_ms = a->started_at_ms;
		o->finished_ms = a->finished_at_ms;
		usage_rec(&o->usage, a->usage);
	}
	usage_rec(&r->usage, m->usage);
	if (m->config != NULL)
		wire_jobconfig_in(&r->config, m->config, NULL, NULL);
	if ((r->has_config_ref = m->config_ref.len == CONFIG_REF_LEN))
		memcpy(r->config_ref, m->config_ref.data, CONFIG_REF_LEN);
	r->ephemeral = m->ephemeral_cluster;
	r->workers = m->workers;
	r->version = dup_in(m->version);
	r->instance_type = dup_in(m->instance_type);
	r->event_seq = m->event_seq;
	r->retry_at_ms = m->retry_at_ms;
	r->queue_seq = m->queue_seq;
	r->deadline_ms = m->deadline_ms;
	r->log_bytes = m->log_bytes;
	r->queue_deadline_ms = m->queue_deadline_ms;
	uuid_rec(r->sched_uuid, m->schedule_uuid);
	r->scheduled_for_ms = m->scheduled_for_ms;
	r->pause_when_finished = m->pause_cluster_when_finished;
	wire_deps_in(&r->deps, &r->n_deps, m->depends_on, m->n_depends_on,
	    NULL, NULL);
	r->deps_met = m->depends_met;
	r->ready_seq = m->ready_seq;
	uuid_rec(r->rerun_of, m->rerun_of);
	batchd__v1__job_run__free_unpacked(m, NULL);
	return 0;
}

/* A status event's record (and message: the same bytes). */
void
wire_encode_event(struct buf *b, const struct runevent *e)
{
	Batchd__V1__JobRunStatusEvent	m;
	Batchd__V1__ResourceUsage	u;

	wire_event_out(&m, &u, e);
	wire_pack(b, &m.base);
}

/* Decode a stored event into e (zeroed by the caller); 0 or -1. */
int
wire_decode_event(const void *data, size_t len, struct runevent *e)
{
	Batchd__V1__JobRunStatusEvent	*m;

	m = batchd__v1__job_run_status_event__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(e->run_uuid, m->run_uuid);
	uuid_rec(e->def_uuid, m->job_definition_uuid);
	uuid_rec(e->cluster_uuid, m->cluster_uuid);
	e->ws = xstrdup(m->workspace);
	e->status = (enum rstatus)m->status;
	e->prev = (enum rstatus)m->previous_status;
	e->reason = (enum reason)m->reason;
	e->reason_text = dup_in(m->reason_text);
	e->attempt = m->attempt;
	e->seq = m->seq;
	e->at_ms = m->at_ms;
	if ((e->has_exit = m->exit_code_opt_case ==
	    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE))
		e->exit_code = m->exit_code;
	if ((e->has_usage = m->usage != NULL))
		usage_rec(&e->usage, m->usage);
	batchd__v1__job_run_status_event__free_unpacked(m, NULL);
	return 0;
}
