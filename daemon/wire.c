/*
 * wire.c: protobuf messages <-> the daemon's structs, one converter each
 * way per message. The only files that know protobuf are wire*.c (wire.h
 * says which holds what).
 *
 * Into structs (*_in): requests and LMDB records go through the same
 * functions; a request's are checked for shape where they enter (sizes,
 * UTF-8, enum ranges, UUID syntax: e set), a record's are not (batchd
 * wrote it: e NULL). Meaning (names taken, states) is checked by the
 * verb's handler. Out of structs (*_out): replies and records alike; the
 * pb structs borrow the structs' strings, so nothing encoded here
 * outlives the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/* A JobConfig into c (zeroed); p names its field in a request. */
int
wire_jobconfig_in(struct jobconfig *c, const Batchd__V1__JobConfig *m,
    const char *p, struct error *e)
{
	const Batchd__V1__JobSource	*s = m->source;
	const Batchd__V1__RetryStrategy	*r = m->retry_strategy;
	char				 f[96];
	int				 v;

#define F(name)	(e == NULL ? NULL :					\
	    (snprintf(f, sizeof f, "%s.%s", p, name), f))
	if (s != NULL) {
		if (wire_enum_in(&v, s->type, SRC_TEXT, F("source.type"), e) ==
		    -1)
			return -1;
		c->source.type = v;
		switch (s->definition_case) {
		case BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE:
			c->source.oneof = SRC_WORKSPACE;
			if (wire_str_in(&c->source.path, s->workspace->path,
			    PATH_MAX_LEN, F("source.workspace.path"), e) == -1)
				return -1;
			break;
		case BATCHD__V1__JOB_SOURCE__DEFINITION_GIT:
			c->source.oneof = SRC_GIT;
			if (wire_str_in(&c->source.repo_url, s->git->repo_url,
			    PATH_MAX_LEN, F("source.git.repo_url"), e) == -1 ||
			    wire_str_in(&c->source.username, s->git->username,
			    NAME_MAX_LEN, F("source.git.username"), e) == -1 ||
			    wire_str_in(&c->source.token, s->git->token,
			    PATH_MAX_LEN, F("source.git.token"), e) == -1 ||
			    wire_str_in(&c->source.reference, s->git->reference,
			    NAME_MAX_LEN, F("source.git.reference"), e) == -1)
				return -1;
			break;
		case BATCHD__V1__JOB_SOURCE__DEFINITION_S3:
			c->source.oneof = SRC_S3;
			if (wire_str_in(&c->source.bucket_path, s->s3->bucket_path,
			    PATH_MAX_LEN, F("source.s3.bucket_path"), e) == -1 ||
			    wire_str_in(&c->source.region, s->s3->region,
			    NAME_MAX_LEN, F("source.s3.region"), e) == -1)
				return -1;
			break;
		case BATCHD__V1__JOB_SOURCE__DEFINITION_TEXT:
			c->source.oneof = SRC_TEXT;
			if (wire_str_in(&c->source.text, s->text->text, TEXT_MAX,
			    F("source.text.text"), e) == -1)
				return -1;
			break;
		default:
			c->source.oneof = SRC_NONE;
			break;
		}
	}
	if (wire_enum_in(&v, m->type, JT_SQL, F("type"), e) == -1)
		return -1;
	c->type = v;
	if (wire_str_in(&c->source_location, m->source_location, PATH_MAX_LEN,
	    F("source_location"), e) == -1 ||
	    wire_str_in(&c->args, m->args, ARGS_MAX, F("args"), e) == -1)
		return -1;
	if (r != NULL && wire_retry_in(&c->retry, r, F("retry_strategy"),
	    e) == -1)
		return -1;
	if ((c->has_timeout = m->timeout_seconds_opt_case ==
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS))
		c->timeout_s = m->timeout_seconds;
	if ((c->has_max_queue = m->max_queue_seconds_opt_case ==
	    BATCHD__V1__JOB_CONFIG__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS))
		c->max_queue_s = m->max_queue_seconds;
	return wire_env_in(&c->env, (void **)m->env, m->n_env, F("env"), e);
#undef F
}

/* A ClusterConfig into c (zeroed); p names its field in a request. */
int
wire_clusterconfig_in(struct clusterconfig *c,
    const Batchd__V1__ClusterConfig *m, const char *p, struct error *e)
{
	char	f[96] = "";

	if (e != NULL)
		snprintf(f, sizeof f, "%s.instance_type", p);
	if (wire_str_in(&c->instance_type, m->instance_type, NAME_MAX_LEN, f,
	    e) == -1)
		return -1;
	if (e != NULL)
		snprintf(f, sizeof f, "%s.version", p);
	if (wire_str_in(&c->version, m->version, NAME_MAX_LEN, f, e) == -1)
		return -1;
	c->workers = m->workers_quantity;
	return 0;
}

/* ------------------------------------------------------------ out */

/*
 * Env entries of every map type share one layout; out holds n entries and
 * n pointers to them, all freed by wire_env_out_free(). In replies (redact) the
 * values of secret names (secret_env) are masked.
 */
static void **
env_out(const struct kvlist *l, const ProtobufCMessageDescriptor *d,
    int redact)
{
	Batchd__V1__JobConfig__EnvEntry	*ents, **ptrs;
	size_t				 i;

	ptrs = xcalloc(l->n + 1, sizeof *ptrs);
	ents = xcalloc(l->n + 1, sizeof *ents);
	for (i = 0; i < l->n; i++) {
		protobuf_c_message_init(d, &ents[i]);
		ents[i].key = l->v[i].key;
		ents[i].value = redact && config_env_secret(l->v[i].key) ?
		    SECRET_MASK : l->v[i].value;
		ptrs[i] = &ents[i];
	}
	ptrs[l->n] = ents;	/* kept to free the block */
	return (void **)ptrs;
}

/* Free what env_out() made. */
void
wire_env_out_free(void **ptrs, size_t n)
{
	if (ptrs == NULL)
		return;
	free(ptrs[n]);
	free(ptrs);
}

/* A JobConfig of c into p; free with wire_jobconfig_out_free(). */
void
wire_jobconfig_out(struct pb_jobconfig *p, const struct jobconfig *c,
    int redact)
{
	batchd__v1__job_config__init(&p->c);
	batchd__v1__job_source__init(&p->s);
	batchd__v1__workspace_source__init(&p->ws);
	batchd__v1__git_source__init(&p->git);
	batchd__v1__s3_source__init(&p->s3);
	batchd__v1__text_source__init(&p->text);

	p->s.type = (Batchd__V1__SourceType)c->source.type;
	switch (c->source.type) {
	case SRC_WORKSPACE:
		p->s.definition_case =
		    BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
		p->s.workspace = &p->ws;
		p->ws.path = wire_str_out(c->source.path);
		break;
	case SRC_GIT:
		p->s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_GIT;
		p->s.git = &p->git;
		p->git.repo_url = wire_str_out(c->source.repo_url);
		p->git.username = wire_str_out(c->source.username);
		p->git.token = redact && c->source.token != NULL ? SECRET_MASK :
		    wire_str_out(c->source.token);
		p->git.reference = wire_str_out(c->source.reference);
		break;
	case SRC_S3:
		p->s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_S3;
		p->s.s3 = &p->s3;
		p->s3.bucket_path = wire_str_out(c->source.bucket_path);
		p->s3.region = wire_str_out(c->source.region);
		break;
	case SRC_TEXT:
		p->s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_TEXT;
		p->s.text = &p->text;
		p->text.text = wire_str_out(c->source.text);
		break;
	default:
		break;
	}
	if (c->source.type != SRC_NONE)
		p->c.source = &p->s;
	p->c.type = (Batchd__V1__JobType)c->type;
	p->c.source_location = wire_str_out(c->source_location);
	p->c.args = wire_str_out(c->args);
	wire_retry_out(&p->r, &c->retry);
	p->c.retry_strategy = &p->r.r;
	p->c.timeout_seconds_opt_case =
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS;
	p->c.timeout_seconds = c->timeout_s;
	if (c->has_max_queue) {
		p->c.max_queue_seconds_opt_case =
		    BATCHD__V1__JOB_CONFIG__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS;
		p->c.max_queue_seconds = c->max_queue_s;
	}
	p->env = env_out(&c->env, &batchd__v1__job_config__env_entry__descriptor,
	    redact);
	p->n_env = c->env.n;
	p->c.n_env = c->env.n;
	p->c.env = (Batchd__V1__JobConfig__EnvEntry **)p->env;
}

/* Free what wire_jobconfig_out() made. */
void
wire_jobconfig_out_free(struct pb_jobconfig *p)
{
	wire_env_out_free(p->env, p->n_env);
	wire_retry_out_free(&p->r);
}

/* A ClusterConfig of c into m. */
static void
clusterconfig_out(Batchd__V1__ClusterConfig *m, const struct clusterconfig *c)
{
	batchd__v1__cluster_config__init(m);
	m->instance_type = wire_str_out(c->instance_type);
	m->workers_quantity = c->workers;
	m->version = wire_str_out(c->version);
}


/* A JobDefinition of d into p; free with wire_jobdef_out_free(). */
void
wire_jobdef_out(struct pb_jobdef *p, const struct jobdef *d, int redact)
{
	batchd__v1__job_definition__init(&p->d);
	p->d.uuid = (char *)d->uuid;
	p->d.name = wire_str_out(d->name);
	p->d.description = wire_str_out(d->description);
	p->d.workspace = wire_str_out(d->ws);
	wire_jobconfig_out(&p->c, &d->config, redact);
	p->d.config = &p->c.c;
	if (d->has_cluster) {
		clusterconfig_out(&p->cc, &d->cluster);
		p->d.cluster_config = &p->cc;
	}
	p->d.created_at_ms = d->created_ms;
	p->d.updated_at_ms = d->updated_ms;
}

/* Free what wire_jobdef_out() made. */
void
wire_jobdef_out_free(struct pb_jobdef *p)
{
	wire_jobconfig_out_free(&p->c);
}

/* A Cluster of c into m, its configuration into cc. */
void
wire_cluster_out(Batchd__V1__Cluster *m, Batchd__V1__ClusterConfig *cc,
    const struct cluster *c)
{
	batchd__v1__cluster__init(m);
	m->uuid = (char *)c->uuid;
	m->name = wire_str_out(c->name);
	m->workspace = wire_str_out(c->ws);
	clusterconfig_out(cc, &c->config);
	m->config = cc;
	m->state = (Batchd__V1__Cluster__ClusterState)c->state;
	m->auto_resume = c->auto_resume;
	m->ephemeral = c->ephemeral;
	m->queued = c->queued;
	m->active_run_uuid = (char *)c->active_run;
	m->created_at_ms = c->created_ms;
	m->queue_next = c->queue_next;
}

/* A ResourceUsage of u into m. */
static void
usage_out(Batchd__V1__ResourceUsage *m, const struct usage *u)
{
	batchd__v1__resource_usage__init(m);
	m->user_cpu_us = u->user_us;
	m->system_cpu_us = u->sys_us;
	m->max_rss_kb = u->maxrss_kb;
	m->wall_ms = u->wall_ms;
}


/*
 * depends_on (n of them, p its field) into *deps: at most DEPS_MAX, each
 * with a target and a known condition. 0, or -1 with e set.
 */
int
wire_deps_in(struct dep **deps, size_t *n_deps,
    Batchd__V1__Dependency *const *m, size_t n, const char *p,
    struct error *e)
{
	struct dep	*d;
	char		 f[128];
	char		*u = NULL;
	size_t		 i;
	int		 v;

	if (e != NULL && n > DEPS_MAX) {
		error_set(e, E_INVALID, p, "%s has %zu entries, more than %d",
		    p, n, DEPS_MAX);
		return -1;
	}
	*deps = xcalloc(n, sizeof **deps);
	*n_deps = n;
	for (i = 0; i < n; i++) {
		d = &(*deps)[i];
		if (e != NULL)
			snprintf(f, sizeof f, "%s[%zu].condition", p, i);
		if (wire_enum_in(&v, m[i]->condition, DC_ENDED, f, e) == -1)
			return -1;
		d->cond = v == DC_NONE ? DC_SUCCEEDED : v;
		if (m[i]->target_case ==
		    BATCHD__V1__DEPENDENCY__TARGET_INDEX) {
			d->has_index = 1;
			d->index = m[i]->index;
			continue;
		}
		if (e != NULL)
			snprintf(f, sizeof f, "%s[%zu].run_uuid", p, i);
		if (m[i]->target_case == BATCHD__V1__DEPENDENCY__TARGET_RUN_UUID &&
		    wire_uuid_in(&u, m[i]->run_uuid, f, e) == -1) {
			free(u);
			return -1;
		}
		if (u == NULL) {
			if (e == NULL)
				continue;
			snprintf(f, sizeof f, "%s[%zu]", p, i);
			error_set(e, E_INVALID, f, "%s needs run_uuid or index",
			    f);
			return -1;
		}
		snprintf(d->uuid, sizeof d->uuid, "%s", u);
		free(u);
		u = NULL;
	}
	return 0;
}

/* A JobRun's depends_on of r into p. */
static void
deps_out(struct pb_run *p, const struct run *r)
{
	size_t	i;

	p->d = xcalloc(r->n_deps, sizeof *p->d);
	p->dp = xcalloc(r->n_deps, sizeof *p->dp);
	for (i = 0; i < r->n_deps; i++) {
		batchd__v1__dependency__init(&p->d[i]);
		p->d[i].target_case = BATCHD__V1__DEPENDENCY__TARGET_RUN_UUID;
		p->d[i].run_uuid = (char *)r->deps[i].uuid;
		p->d[i].condition =
		    (Batchd__V1__DependencyCondition)r->deps[i].cond;
		p->dp[i] = &p->d[i];
	}
	p->r.n_depends_on = r->n_deps;
	p->r.depends_on = p->dp;
	p->r.rerun_of = (char *)r->rerun_of;
	p->r.n_dependents = r->n_dependents;
	p->r.dependents = r->dependents;
	p->r.depends_met = r->deps_met;
	p->r.ready_seq = r->ready_seq;
}

/* A JobRun of r into p; free with wire_run_out_free(). */
void
wire_run_out(struct pb_run *p, const struct run *r, int redact)
{
	size_t	i;

	batchd__v1__job_run__init(&p->r);
	p->r.uuid = (char *)r->uuid;
	p->r.job_definition_uuid = (char *)r->def_uuid;
	p->r.cluster_uuid = (char *)r->cluster_uuid;
	p->r.workspace = wire_str_out(r->ws);
	p->r.type = (Batchd__V1__JobType)r->type;
	p->r.status = (Batchd__V1__JobRunStatus)r->status;
	p->r.reason = (Batchd__V1__StatusReason)r->reason;
	p->r.reason_text = wire_str_out(r->reason_text);
	p->r.attempt = r->attempt;
	if (r->has_exit) {
		p->r.exit_code_opt_case =
		    BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE;
		p->r.exit_code = r->exit_code;
	}
	p->r.submitted_at_ms = r->submitted_ms;
	p->r.started_at_ms = r->started_ms;
	p->r.finished_at_ms = r->finished_ms;
	if (r->has_args) {
		p->r.args_opt_case = BATCHD__V1__JOB_RUN__ARGS_OPT_ARGS;
		p->r.args = wire_str_out(r->args);
	}
	p->env = env_out(&r->env, &batchd__v1__job_run__env_entry__descriptor,
	    redact);
	p->n_env = r->env.n;
	p->r.n_env = r->env.n;
	p->r.env = (Batchd__V1__JobRun__EnvEntry **)p->env;
	p->r.sql_query = wire_str_out(r->sql);
	p->r.idempotency_key = wire_str_out(r->idem_key);
	p->r.queue_position = r->queue_position;
	p->a = xcalloc(r->n_attempts, sizeof *p->a);
	p->ap = xcalloc(r->n_attempts, sizeof *p->ap);
	p->au = xcalloc(r->n_attempts, sizeof *p->au);
	for (i = 0; i < r->n_attempts; i++) {
		const struct attempt *a = &r->attempts[i];

		batchd__v1__job_run_attempt__init(&p->a[i]);
		p->a[i].attempt = a->n;
		p->a[i].status = (Batchd__V1__JobRunStatus)a->status;
		p->a[i].reason = (Batchd__V1__StatusReason)a->reason;
		p->a[i].reason_text = wire_str_out(a->reason_text);
		if (a->has_exit) {
			p->a[i].exit_code_opt_case =
			    BATCHD__V1__JOB_RUN_ATTEMPT__EXIT_CODE_OPT_EXIT_CODE;
			p->a[i].exit_code = a->exit_code;
		}
		p->a[i].signal = a->sig;
		p->a[i].started_at_ms = a->started_ms;
		p->a[i].finished_at_ms = a->finished_ms;
		usage_out(&p->au[i], &a->usage);
		p->a[i].usage = &p->au[i];
		p->ap[i] = &p->a[i];
	}
	p->r.n_attempts = r->n_attempts;
	p->r.attempts = p->ap;
	usage_out(&p->u, &r->usage);
	p->r.usage = &p->u;
	wire_jobconfig_out(&p->c, &r->config, redact);
	p->r.config = &p->c.c;
	p->r.ephemeral_cluster = r->ephemeral;
	p->r.workers = r->workers;
	p->r.version = wire_str_out(r->version);
	p->r.instance_type = wire_str_out(r->instance_type);
	p->r.event_seq = r->event_seq;
	p->r.retry_at_ms = r->retry_at_ms;
	p->r.queue_seq = r->queue_seq;
	p->r.deadline_ms = r->deadline_ms;
	p->r.log_bytes = r->log_bytes;
	p->r.queue_deadline_ms = r->queue_deadline_ms;
	p->r.schedule_uuid = (char *)r->sched_uuid;
	p->r.scheduled_for_ms = r->scheduled_for_ms;
	p->r.pause_cluster_when_finished = r->pause_when_finished;
	deps_out(p, r);
}

/* Free what wire_run_out() made. */
void
wire_run_out_free(struct pb_run *p)
{
	free(p->a);
	free(p->ap);
	free(p->au);
	free(p->d);
	free(p->dp);
	wire_env_out_free(p->env, p->n_env);
	wire_jobconfig_out_free(&p->c);
}

/* A JobRunStatusEvent of e into m, its usage into u. */
void
wire_event_out(Batchd__V1__JobRunStatusEvent *m,
    Batchd__V1__ResourceUsage *u, const struct runevent *e)
{
	batchd__v1__job_run_status_event__init(m);
	m->run_uuid = (char *)e->run_uuid;
	m->job_definition_uuid = (char *)e->def_uuid;
	m->cluster_uuid = (char *)e->cluster_uuid;
	m->workspace = wire_str_out(e->ws);
	m->status = (Batchd__V1__JobRunStatus)e->status;
	m->previous_status = (Batchd__V1__JobRunStatus)e->prev;
	m->reason = (Batchd__V1__StatusReason)e->reason;
	m->reason_text = wire_str_out(e->reason_text);
	m->attempt = e->attempt;
	m->seq = e->seq;
	m->at_ms = e->at_ms;
	if (e->has_exit) {
		m->exit_code_opt_case =
		    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE;
		m->exit_code = e->exit_code;
	}
	if (e->has_usage) {
		usage_out(u, &e->usage);
		m->usage = u;
	}
}
