/*
 * model.c: freeing and copying the daemon's own structs, and the names of
 * statuses and reasons.
 */
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

void
source_free(struct source *s)
{
	free(s->path);
	free(s->repo_url);
	free(s->username);
	free(s->token);
	free(s->reference);
	free(s->bucket_path);
	free(s->region);
	free(s->text);
	memset(s, 0, sizeof *s);
}

void
jobconfig_free(struct jobconfig *c)
{
	source_free(&c->source);
	free(c->source_location);
	free(c->args);
	kvlist_free(&c->env);
	memset(c, 0, sizeof *c);
}

/* Deep copy src into dst (whose old contents are not freed). */
void
jobconfig_copy(struct jobconfig *dst, const struct jobconfig *src)
{
	*dst = *src;
	dst->source.path = dup_or_null(src->source.path);
	dst->source.repo_url = dup_or_null(src->source.repo_url);
	dst->source.username = dup_or_null(src->source.username);
	dst->source.token = dup_or_null(src->source.token);
	dst->source.reference = dup_or_null(src->source.reference);
	dst->source.bucket_path = dup_or_null(src->source.bucket_path);
	dst->source.region = dup_or_null(src->source.region);
	dst->source.text = dup_or_null(src->source.text);
	dst->source_location = dup_or_null(src->source_location);
	dst->args = dup_or_null(src->args);
	kvlist_copy(&dst->env, &src->env);
}

void
clusterconfig_free(struct clusterconfig *c)
{
	free(c->instance_type);
	free(c->version);
	memset(c, 0, sizeof *c);
}

void
clusterconfig_copy(struct clusterconfig *dst, const struct clusterconfig *src)
{
	dst->instance_type = dup_or_null(src->instance_type);
	dst->workers = src->workers;
	dst->version = dup_or_null(src->version);
}

void
jobdef_free(struct jobdef *d)
{
	free(d->ws);
	free(d->name);
	free(d->description);
	jobconfig_free(&d->config);
	clusterconfig_free(&d->cluster);
	memset(d, 0, sizeof *d);
}

void
cluster_free(struct cluster *c)
{
	free(c->ws);
	free(c->name);
	clusterconfig_free(&c->config);
	memset(c, 0, sizeof *c);
}

void
run_free(struct run *r)
{
	size_t	i;

	free(r->ws);
	free(r->reason_text);
	free(r->args);
	kvlist_free(&r->env);
	free(r->sql);
	free(r->idem_key);
	for (i = 0; i < r->n_attempts; i++)
		free(r->attempts[i].reason_text);
	free(r->attempts);
	jobconfig_free(&r->config);
	free(r->version);
	free(r->instance_type);
	free(r->deps);
	for (i = 0; i < r->n_dependents; i++)
		free(r->dependents[i]);
	free(r->dependents);
	memset(r, 0, sizeof *r);
}

void
schedule_free(struct schedule *s)
{
	free(s->ws);
	free(s->name);
	free(s->description);
	free(s->cron);
	free(s->tz);
	clusterconfig_free(&s->cluster);
	free(s->args);
	kvlist_free(&s->env);
	memset(s, 0, sizeof *s);
}

void
event_free_fields(struct runevent *e)
{
	free(e->ws);
	free(e->reason_text);
	memset(e, 0, sizeof *e);
}

void
request_free(struct request *r)
{
	size_t	i;

	free(r->uuid);
	free(r->name);
	free(r->description);
	jobconfig_free(&r->config);
	clusterconfig_free(&r->cluster);
	free(r->def_uuid);
	free(r->cluster_uuid);
	free(r->args);
	kvlist_free(&r->env);
	free(r->idem_key);
	free(r->sql);
	free(r->cron);
	free(r->tz);
	free(r->sched_uuid);
	for (i = 0; i < r->n_cluster_uuids; i++)
		free(r->cluster_uuids[i]);
	free(r->cluster_uuids);
	free(r->deps);
	for (i = 0; i < r->n_items; i++)
		request_free(&r->items[i]);
	free(r->items);
	free(r->rerun_of);
	memset(r, 0, sizeof *r);
}

const char *
rstatus_name(enum rstatus s)
{
	static const char *names[] = { "UNSPECIFIED", "PENDING", "RUNNING",
	    "SUCCEEDED", "FAILED", "CANCELLED" };

	if ((size_t)s < sizeof names / sizeof names[0])
		return names[s];
	return "?";
}

/* The words users see for a reason (the product documentation's). */
const char *
reason_text(enum reason r)
{
	static const char *texts[R__COUNT] = {
		[R_NONE] = "",
		[R_RECENTLY_SUBMITTED] = "Recently submitted",
		[R_IN_QUEUE] = "In queue",
		[R_NON_ZERO_EXIT] = "NonZeroExitCode",
		[R_TIMEOUT] = "Timeout",
		[R_CANCELLED_BY_USER] = "Cancelled by user",
		[R_RETRY_PENDING] = "Waiting to retry",
		[R_FETCH_FAILED] = "SourceFetchFailed",
		[R_SPAWN_FAILED] = "SpawnFailed",
		[R_SIGNALED] = "KilledBySignal",
		[R_DAEMON_RESTARTED] = "DaemonRestarted",
		[R_CLUSTER_DELETED] = "ClusterDeleted",
		[R_RUNNING] = "Running",
		[R_SUPERVISOR_LOST] = "SupervisorLost",
		[R_QUEUE_TIMEOUT] = "QueueTimeout",
		[R_WAITING_DEPS] = "Waiting for dependencies",
		[R_UPSTREAM_FAILED] = "Upstream failed",
	};

	if ((size_t)r < R__COUNT && texts[r] != NULL)
		return texts[r];
	return "";
}

int
rstatus_terminal(enum rstatus s)
{
	return s == RS_SUCCEEDED || s == RS_FAILED || s == RS_CANCELLED;
}
