/*
 * wire-schedule.c: the Schedule message both ways (its record is the
 * message the API returns, env secrets in clear), its replies and their
 * size, and the ScheduleFireEvent a fire publishes. Its requests'
 * decoders are with the others in wire-request.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/* A Schedule of s into its pb structs; nothing here outlives s. */
struct pb_schedule {
	Batchd__V1__Schedule		 m;
	Batchd__V1__ClusterConfig	 cc;
	struct pb_jobconfig		 env;	/* only its env is used */
	struct pb_retry			 retry;
};

static void
schedule_out(struct pb_schedule *p, const struct schedule *s, int redact)
{
	struct jobconfig	c;

	batchd__v1__schedule__init(&p->m);
	p->m.uuid = (char *)s->uuid;
	p->m.name = wire_str_out(s->name);
	p->m.description = wire_str_out(s->description);
	p->m.cron = wire_str_out(s->cron);
	p->m.timezone = wire_str_out(s->tz);
	p->m.job_definition_uuid = (char *)s->def_uuid;
	p->m.cluster_uuid = (char *)s->cluster_uuid;
	if (s->has_cluster) {
		batchd__v1__cluster_config__init(&p->cc);
		p->cc.instance_type = wire_str_out(s->cluster.instance_type);
		p->cc.workers_quantity = s->cluster.workers;
		p->cc.version = wire_str_out(s->cluster.version);
		p->m.cluster_config = &p->cc;
	}
	if (s->has_args) {
		p->m.args_opt_case = BATCHD__V1__SCHEDULE__ARGS_OPT_ARGS;
		p->m.args = wire_str_out(s->args);
	}
	/* The env entries of every map share one layout (wire.c). */
	memset(&c, 0, sizeof c);
	c.env = s->env;
	wire_jobconfig_out(&p->env, &c, redact);
	p->m.n_env = p->env.n_env;
	p->m.env = (Batchd__V1__Schedule__EnvEntry **)p->env.env;
	p->m.max_concurrent_runs = s->max_concurrent;
	p->m.misfire_policy = (Batchd__V1__MisfirePolicy)s->misfire;
	p->m.pause_cluster_when_finished = s->pause_when_finished;
	p->m.paused = s->paused;
	p->m.next_fire_at_ms = s->next_fire_ms;
	p->m.last_fire_at_ms = s->last_fire_ms;
	p->m.last_run_uuid = (char *)s->last_run;
	p->m.fires = s->fires;
	p->m.skipped = s->skipped;
	p->m.created_at_ms = s->created_ms;
	p->m.updated_at_ms = s->updated_ms;
	p->m.workspace = wire_str_out(s->ws);
	if (s->has_timeout) {
		p->m.timeout_seconds_opt_case =
		    BATCHD__V1__SCHEDULE__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS;
		p->m.timeout_seconds = s->timeout_s;
	}
	memset(&p->retry, 0, sizeof p->retry);
	if (s->has_retry) {
		wire_retry_out(&p->retry, &s->retry);
		p->m.retry_strategy = &p->retry.r;
	}
}

static void
schedule_out_free(struct pb_schedule *p)
{
	wire_env_out_free(p->env.env, p->env.n_env);
	wire_retry_out_free(&p->retry);
}

/* A schedule's record. */
void
wire_encode_schedule(struct buf *b, const struct schedule *s)
{
	struct pb_schedule	p;

	schedule_out(&p, s, 0);
	wire_pack(b, &p.m.base);
	schedule_out_free(&p);
}

/* A record's UUID into a fixed-size field. */
static void
uuid_rec(char *dst, const char *src)
{
	snprintf(dst, UUID_LEN + 1, "%s", src == NULL ? "" : src);
}

/* Decode a stored schedule into s (zeroed by the caller); 0 or -1. */
int
wire_decode_schedule(const void *data, size_t len, struct schedule *s)
{
	Batchd__V1__Schedule	*m;

	if ((m = batchd__v1__schedule__unpack(NULL, len, data)) == NULL)
		return -1;
	uuid_rec(s->uuid, m->uuid);
	s->ws = xstrdup(m->workspace);
	s->name = xstrdup(m->name);
	wire_str_in(&s->description, m->description, 0, NULL, NULL);
	s->cron = xstrdup(m->cron);
	s->tz = xstrdup(m->timezone);
	uuid_rec(s->def_uuid, m->job_definition_uuid);
	uuid_rec(s->cluster_uuid, m->cluster_uuid);
	if ((s->has_cluster = m->cluster_config != NULL))
		wire_clusterconfig_in(&s->cluster, m->cluster_config, NULL,
		    NULL);
	if ((s->has_args = m->args_opt_case ==
	    BATCHD__V1__SCHEDULE__ARGS_OPT_ARGS))
		s->args = xstrdup(m->args);
	wire_env_in(&s->env, (void **)m->env, m->n_env, NULL, NULL);
	s->max_concurrent = m->max_concurrent_runs;
	s->misfire = (enum misfire)m->misfire_policy;
	s->pause_when_finished = m->pause_cluster_when_finished;
	s->paused = m->paused;
	s->next_fire_ms = m->next_fire_at_ms;
	s->last_fire_ms = m->last_fire_at_ms;
	uuid_rec(s->last_run, m->last_run_uuid);
	s->fires = m->fires;
	s->skipped = m->skipped;
	s->created_ms = m->created_at_ms;
	s->updated_ms = m->updated_at_ms;
	if ((s->has_timeout = m->timeout_seconds_opt_case ==
	    BATCHD__V1__SCHEDULE__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS))
		s->timeout_s = m->timeout_seconds;
	if ((s->has_retry = m->retry_strategy != NULL))
		wire_retry_in(&s->retry, m->retry_strategy, NULL, NULL);
	batchd__v1__schedule__free_unpacked(m, NULL);
	return 0;
}

/* Bytes s costs as an item of a list reply. */
size_t
wire_size_schedule(const struct schedule *s)
{
	struct pb_schedule	p;
	size_t			n;

	schedule_out(&p, s, 1);
	n = wire_item_size(&p.m.base);
	schedule_out_free(&p);
	return n;
}

void
wire_reply_schedule(struct buf *b, const struct schedule *s)
{
	Batchd__V1__ScheduleReply	m = BATCHD__V1__SCHEDULE_REPLY__INIT;
	struct pb_schedule		p;

	schedule_out(&p, s, 1);
	m.schedule = &p.m;
	wire_pack(b, &m.base);
	schedule_out_free(&p);
}

/* A page of schedules; more: where the next starts, NULL on the last. */
void
wire_reply_schedules(struct buf *b, const char *ws, struct schedule *s,
    size_t n, const struct pagepos *more)
{
	Batchd__V1__ListSchedulesReply	m = BATCHD__V1__LIST_SCHEDULES_REPLY__INIT;
	struct pb_schedule		*p;
	Batchd__V1__Schedule		**pp;
	char				*token;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		schedule_out(&p[i], &s[i], 1);
		pp[i] = &p[i].m;
	}
	m.n_schedules = n;
	m.schedules = pp;
	token = more != NULL ? wire_page_token(PAGE_SCHEDULES, ws, more) :
	    NULL;
	m.next_page_token = wire_str_out(token);
	wire_pack(b, &m.base);
	for (i = 0; i < n; i++)
		schedule_out_free(&p[i]);
	free(p);
	free(pp);
	free(token);
}

/* A fire's event, the bytes published. */
void
wire_encode_fire(struct buf *b, const struct fire *f)
{
	Batchd__V1__ScheduleFireEvent	m =
	    BATCHD__V1__SCHEDULE_FIRE_EVENT__INIT;

	m.schedule_uuid = (char *)f->sched_uuid;
	m.scheduled_for_ms = f->scheduled_ms;
	m.at_ms = f->at_ms;
	m.run_uuid = wire_str_out(f->run_uuid);
	m.skipped_reason = wire_str_out(f->skipped);
	m.workspace = wire_str_out(f->ws);
	m.missed = f->missed;
	m.triggered = f->triggered;
	wire_pack(b, &m.base);
}
