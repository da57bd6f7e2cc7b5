/*
 * scheduleverb.c: the schedule.* verbs. Each handler is called inside the
 * loop turn's transaction with a request its decoder (wire-request.c) has
 * checked for shape; it checks meaning (the cron and zone parse, the
 * definition and cluster exist, the name is free), changes the schedule
 * through schedule.c and writes its reply, or sets e and changes nothing.
 * A change of a schedule's next fire re-arms the timer once it commits
 * (schedfire_rearm()). Runs a schedule started are never touched here:
 * pausing or deleting it leaves them as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define CONCURRENT_MAX	1000

/*
 * Check what a schedule refers to and holds: its bounds, its definition
 * and cluster in its workspace; then plan its next fire from now (cron and
 * timezone). 0 (e set: refused) or a storage error.
 */
static int
check(struct txn *t, struct schedule *s, struct error *e)
{
	struct jobdef	d;
	struct cluster	c;
	int		rc;

	if (s->max_concurrent > CONCURRENT_MAX) {
		error_set(e, E_INVALID, "max_concurrent_runs", "max_concurrent_"
		    "runs may be at most %d (0: no limit)", CONCURRENT_MAX);
		return 0;
	}
	if (schedule_plan(s, now_ms(), e) == -1 ||
	    (s->has_cluster && jobconfig_validate_cluster(&s->cluster,
	    "cluster_config", e) == -1) ||
	    (s->has_args && args_valid(s->args, "args", e) == -1))
		return 0;
	memset(&d, 0, sizeof d);
	if ((rc = store_get_jobdef(t, s->def_uuid, &d)) == 0) {
		if (strcmp(d.ws, s->ws) != 0)
			rc = MDB_NOTFOUND;
		jobdef_free(&d);
	}
	if (rc == MDB_NOTFOUND)
		error_set(e, E_NOT_FOUND, "job_definition_uuid", "job "
		    "definition '%s' not found in workspace '%s'", s->def_uuid,
		    s->ws);
	if (rc != 0 || s->cluster_uuid[0] == '\0')
		return rc == MDB_NOTFOUND ? 0 : rc;
	memset(&c, 0, sizeof c);
	if ((rc = cluster_load(t, s->ws, s->cluster_uuid, NULL, &c, e)) != 0 ||
	    e->code != E_OK) {
		snprintf(e->field, sizeof e->field, "cluster_uuid");
		return rc;
	}
	if (c.ephemeral)
		error_set(e, E_INVALID, "cluster_uuid", "cluster '%s' was made "
		    "for one run and goes with it: name another, or none for a "
		    "new cluster per run", c.uuid);
	cluster_free(&c);
	return 0;
}

/* Move the request's fields that create and update share into s. */
static void
take(struct schedule *s, struct request *r)
{
	if (r->cron != NULL) {
		free(s->cron);
		s->cron = r->cron;
		r->cron = NULL;
	}
	if (r->tz != NULL) {
		free(s->tz);
		s->tz = r->tz;
		r->tz = NULL;
	}
	if (r->def_uuid != NULL)
		snprintf(s->def_uuid, sizeof s->def_uuid, "%s", r->def_uuid);
	if (r->has_cluster) {
		clusterconfig_free(&s->cluster);
		s->cluster = r->cluster;
		memset(&r->cluster, 0, sizeof r->cluster);
		s->has_cluster = 1;
	}
	if (r->has_args) {
		free(s->args);
		s->args = r->args;
		r->args = NULL;
		s->has_args = 1;
	}
	if (r->env.n > 0) {
		kvlist_free(&s->env);
		s->env = r->env;
		memset(&r->env, 0, sizeof r->env);
	}
	if (r->has_max_concurrent)
		s->max_concurrent = r->max_concurrent;
	if (r->misfire != MF_NONE)
		s->misfire = r->misfire;
	if (r->has_pause_when)
		s->pause_when_finished = r->pause_when;
	if (r->has_timeout || r->clear_timeout) {
		s->has_timeout = r->has_timeout;
		s->timeout_s = r->timeout_s;
	}
	if (r->has_retry || r->clear_retry) {
		s->has_retry = r->has_retry;
		s->retry = r->retry;
	}
}

/*
 * A refusal of an update whose fields exclude each other, or whose
 * overrides are out of range; 0 if none.
 */
static int
exclusive(const struct request *r, struct error *e)
{
	const char	*f = NULL;

	if (r->has_cluster && r->clear_cluster)
		f = "clear_cluster_config";
	else if (r->has_args && r->clear_args)
		f = "clear_args";
	else if (r->env.n > 0 && r->clear_env)
		f = "clear_env";
	else if (r->has_timeout && r->clear_timeout)
		f = "clear_timeout_seconds";
	else if (r->has_retry && r->clear_retry)
		f = "clear_retry_strategy";
	if (f == NULL)
		return policy_validate_overrides(r, e);
	error_set(e, E_INVALID, f, "%s and the value it clears exclude each "
	    "other", f);
	return -1;
}

/* Log and reply a schedule changed by verb, and re-arm the timer. */
static void
changed(struct txn *t, const struct schedule *s, const char *verb,
    struct buf *out)
{
	log_info("schedule %s ws=%s schedule=%s name=%s next_fire=%lld", verb,
	    s->ws, s->uuid, s->name, (long long)s->next_fire_ms);
	wire_reply_schedule(out, s);
	schedfire_rearm(t);
}

/* schedule.create: a new schedule, firing from now unless paused. */
static int
schedule_create(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct schedule	 s;
	char		 id[UUID_LEN + 1];
	uint64_t	 n;
	int		 rc;

	if (r->name == NULL || r->cron == NULL || r->def_uuid == NULL) {
		error_set(e, E_INVALID, r->name == NULL ? "name" :
		    r->cron == NULL ? "cron" : "job_definition_uuid", "%s is "
		    "required", r->name == NULL ? "name" : r->cron == NULL ?
		    "cron" : "job_definition_uuid");
		return 0;
	}
	if (policy_validate_overrides(r, e) == -1)
		return 0;
	memset(&s, 0, sizeof s);
	s.ws = xstrdup(r->ws);
	s.tz = xstrdup("Etc/UTC");
	s.max_concurrent = 1;
	s.misfire = MF_SKIP;
	s.paused = r->paused;
	take(&s, r);
	snprintf(s.cluster_uuid, sizeof s.cluster_uuid, "%s",
	    r->cluster_uuid != NULL ? r->cluster_uuid : "");
	if ((rc = check(t, &s, e)) != 0 || e->code != E_OK)
		goto out;
	rc = store_resolve_name(t, DB_SCHEDULE_NAMES, r->ws, r->name, id);
	if (rc == 0)
		error_set(e, E_EXISTS, "name", "a schedule named '%s' exists "
		    "in workspace '%s'", r->name, r->ws);
	if (rc != MDB_NOTFOUND)
		goto out;
	if ((rc = store_ws_count(t, "schedules", r->ws, 0, &n)) != 0)
		goto out;
	if (cfg->quota_schedules != 0 && n >= cfg->quota_schedules) {
		error_set(e, E_RESOURCE_EXHAUSTED, "", "workspace '%s' holds "
		    "%llu schedules, its quota (quota_schedules = %u)", r->ws,
		    (unsigned long long)n, cfg->quota_schedules);
		goto out;
	}
	uuid_new(s.uuid);
	s.name = r->name;
	r->name = NULL;
	s.description = r->description;
	r->description = NULL;
	s.created_ms = s.updated_ms = now_ms();
	if ((rc = schedule_save(t, &s, NULL)) == 0)
		changed(t, &s, "created", out);
out:
	schedule_free(&s);
	return rc;
}

const struct verb_entry schedule_create_entry = {
	.name = "schedule.create",
	.decode = wire_request_schedule_create,
	.exec = schedule_create,
	.object = "name",
};

/* schedule.get: a schedule by uuid or name. */
static int
schedule_get(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_get(t, &schedule_kind, r, out, e);
}

const struct verb_entry schedule_get_entry = {
	.name = "schedule.get",
	.decode = wire_request_schedule_get,
	.exec = schedule_get,
	.object = "uuid",
};

/*
 * schedule.list: a page of schedules by name, as many as page_size asks
 * and the reply can carry; the next page starts after the last one.
 */
static int
schedule_list(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_list(t, &schedule_kind, r, out, e);
}

const struct verb_entry schedule_list_entry = {
	.name = "schedule.list",
	.decode = wire_request_schedule_list,
	.exec = schedule_list,
	.object = "page_token",
};

/*
 * schedule.update: the fields set replace the stored ones; a new cron or
 * zone plans the next fire from now.
 */
static int
schedule_update(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct schedule	 s, old;
	int		 rc = 0, replan = r->cron != NULL || r->tz != NULL;

	memset(&s, 0, sizeof s);
	if (r->uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	if (exclusive(r, e) == -1 || (rc = schedule_load(t, r->ws, r->uuid,
	    NULL, &s, e)) != 0 || e->code != E_OK)
		return e->code != E_OK ? 0 : rc;
	old = s;	/* schedule_save() reads its index fields only */
	if (r->has_description) {
		free(s.description);
		s.description = r->description;
		r->description = NULL;
	}
	take(&s, r);
	if (r->has_cluster_uuid)
		snprintf(s.cluster_uuid, sizeof s.cluster_uuid, "%s",
		    r->cluster_uuid != NULL ? r->cluster_uuid : "");
	if (r->clear_cluster) {
		clusterconfig_free(&s.cluster);
		s.has_cluster = 0;
	}
	if (r->clear_args) {
		free(s.args);
		s.args = NULL;
		s.has_args = 0;
	}
	if (r->clear_env)
		kvlist_free(&s.env);
	/* check() plans from now; a schedule whose cron and zone stay keeps
	 * the fire it had. */
	if ((rc = check(t, &s, e)) == 0 && e->code == E_OK) {
		if (!replan)
			s.next_fire_ms = old.next_fire_ms;
		s.updated_ms = now_ms();
		if ((rc = schedule_save(t, &s, &old)) == 0)
			changed(t, &s, "updated", out);
	}
	schedule_free(&s);
	return rc;
}

const struct verb_entry schedule_update_entry = {
	.name = "schedule.update",
	.decode = wire_request_schedule_update,
	.exec = schedule_update,
	.object = "uuid",
};

/* schedule.delete: the schedule goes; the runs it started stay. */
static int
schedule_delete(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct schedule	s;
	int		rc;

	memset(&s, 0, sizeof s);
	if ((rc = schedule_load(t, r->ws, r->uuid, r->name, &s, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	if ((rc = schedule_remove(t, &s)) == 0) {
		log_info("schedule deleted ws=%s schedule=%s name=%s", s.ws,
		    s.uuid, s.name);
		wire_reply_delete(out);
		schedfire_rearm(t);
	}
	schedule_free(&s);
	return rc;
}

const struct verb_entry schedule_delete_entry = {
	.name = "schedule.delete",
	.decode = wire_request_schedule_get,
	.exec = schedule_delete,
	.object = "uuid",
};

/* Pause (to 1) or resume (0, firing from now) a schedule. */
static int
set_paused(struct txn *t, struct request *r, struct buf *out,
    struct error *e, int to)
{
	struct schedule	 s, old;
	int		 rc = 0;

	memset(&s, 0, sizeof s);
	if ((rc = schedule_load(t, r->ws, r->uuid, r->name, &s, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	old = s;
	if (s.paused != to) {
		s.paused = to;
		s.next_fire_ms = 0;
		if ((to || schedule_plan(&s, now_ms(), e) == 0) &&
		    (rc = schedule_save(t, &s, &old)) == 0)
			changed(t, &s, to ? "paused" : "resumed", out);
	} else
		wire_reply_schedule(out, &s);
	schedule_free(&s);
	return rc;
}

/* schedule.pause: it fires nothing until resumed. */
static int
schedule_pause(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return set_paused(t, r, out, e, 1);
}

const struct verb_entry schedule_pause_entry = {
	.name = "schedule.pause",
	.decode = wire_request_schedule_get,
	.exec = schedule_pause,
	.object = "uuid",
};

/* schedule.resume: it fires again, from now on (nothing missed meanwhile). */
static int
schedule_resume(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return set_paused(t, r, out, e, 0);
}

const struct verb_entry schedule_resume_entry = {
	.name = "schedule.resume",
	.decode = wire_request_schedule_get,
	.exec = schedule_resume,
	.object = "uuid",
};

/* The metrics of a trigger that committed. */
static void
triggered_cb(void *arg)
{
	(void)arg;
	metrics_fire(FO_TRIGGER, 1);
}

/*
 * schedule.trigger: one run now, outside the cron, also when paused; it
 * counts against max_concurrent_runs. Answers the run (JobRunReply).
 */
static int
schedule_trigger(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct schedule	 s, old;
	struct fire	 f;
	char		 made[UUID_LEN + 1];
	int		 rc;

	memset(&s, 0, sizeof s);
	if ((rc = schedule_load(t, r->ws, r->uuid, r->name, &s, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	old = s;
	memset(&f, 0, sizeof f);
	f.sched_uuid = s.uuid;
	f.ws = s.ws;
	f.scheduled_ms = f.at_ms = now_ms();
	f.triggered = 1;
	f.run_uuid = made;
	if ((rc = schedule_start(t, &s, f.scheduled_ms, out, e, made)) == 0 &&
	    e->code == E_OK) {
		memcpy(s.last_run, made, sizeof s.last_run);
		s.fires++;
		if ((rc = schedule_save(t, &s, &old)) == 0 &&
		    (rc = schedule_publish(t, &f)) == 0) {
			log_info("schedule triggered ws=%s schedule=%s run=%s",
			    s.ws, s.uuid, made);
			txn_defer(t, triggered_cb, NULL, NULL);
		}
	}
	schedule_free(&s);
	return rc;
}

const struct verb_entry schedule_trigger_entry = {
	.name = "schedule.trigger",
	.decode = wire_request_schedule_get,
	.exec = schedule_trigger,
	.object = "uuid",
};
