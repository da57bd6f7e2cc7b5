/*
 * clusterverb.c: the cluster.* verbs. Paused clusters start no new run;
 * the run in progress finishes, and resuming kicks the queue (run.c).
 * Deleting a cluster with a run queued or running is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* cluster.create: a new cluster, RUNNING, its name unique in ws. */
static int
cluster_create(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct cluster	c;
	int		rc;

	if (r->name == NULL) {
		error_set(e, E_INVALID, "name", "name is required");
		return 0;
	}
	if (!r->has_cluster) {
		error_set(e, E_INVALID, "config", "config is required");
		return 0;
	}
	if (jobconfig_validate_cluster(&r->cluster, "config", e) == -1)
		return 0;
	memset(&c, 0, sizeof c);
	uuid_new(c.uuid);
	c.ws = xstrdup(r->ws);
	c.name = xstrdup(r->name);
	clusterconfig_copy(&c.config, &r->cluster);
	c.state = CL_RUNNING;
	c.auto_resume = r->has_auto_resume ? r->auto_resume : 1;
	c.created_ms = now_ms();
	c.queue_next = 1;
	if ((rc = cluster_insert(t, &c, e)) == 0 && e->code == E_OK)
		wire_reply_cluster(out, &c);
	cluster_free(&c);
	return rc;
}

const struct verb_entry cluster_create_entry = {
	.name = "cluster.create",
	.decode = wire_request_cluster_create,
	.exec = cluster_create,
	.object = "config",
};

/* cluster.get: a cluster by uuid or name. */
static int
cluster_get(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_get(t, &cluster_kind, r, out, e);
}

const struct verb_entry cluster_get_entry = {
	.name = "cluster.get",
	.decode = wire_request_cluster_get,
	.exec = cluster_get,
	.object = "uuid",
};

/* cluster.list: a page of clusters, by name. */
static int
cluster_list(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_list(t, &cluster_kind, r, out, e);
}

const struct verb_entry cluster_list_entry = {
	.name = "cluster.list",
	.decode = wire_request_cluster_list,
	.exec = cluster_list,
	.object = "page_token",
};

/* Pause or resume; a resumed cluster with work is kicked after commit. */
static int
set_state(struct txn *t, struct request *r, struct buf *out, struct error *e,
    enum clstate to)
{
	struct cluster	c;
	int		rc;

	memset(&c, 0, sizeof c);
	if (r->uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	if ((rc = cluster_load(t, r->ws, r->uuid, NULL, &c, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	if (c.state != to) {
		c.state = to;
		if ((rc = store_put_cluster(t, &c)) != 0)
			goto out;
		log_info("cluster %s ws=%s cluster=%s",
		    to == CL_PAUSED ? "paused" : "resumed", c.ws, c.uuid);
		if (to == CL_RUNNING)
			run_kick(t, c.uuid);
	}
	wire_reply_cluster(out, &c);
out:
	cluster_free(&c);
	return rc;
}

/* cluster.pause: start no new run. */
static int
cluster_pause(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return set_state(t, r, out, e, CL_PAUSED);
}

const struct verb_entry cluster_pause_entry = {
	.name = "cluster.pause",
	.decode = wire_request_cluster_get,
	.exec = cluster_pause,
	.object = "uuid",
};

/* cluster.resume: start queued runs again. */
static int
cluster_resume(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return set_state(t, r, out, e, CL_RUNNING);
}

const struct verb_entry cluster_resume_entry = {
	.name = "cluster.resume",
	.decode = wire_request_cluster_get,
	.exec = cluster_resume,
	.object = "uuid",
};

/* cluster.delete: an idle cluster goes. */
static int
cluster_delete(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct cluster	c;
	int		rc;

	memset(&c, 0, sizeof c);
	if (r->uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	if ((rc = cluster_load(t, r->ws, r->uuid, NULL, &c, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	if (c.queued > 0 || c.active_run[0] != '\0')
		error_set(e, E_PRECONDITION, "uuid", "cluster '%s' has %u runs "
		    "queued%s; cancel them first", c.uuid, c.queued,
		    c.active_run[0] != '\0' ? " and one running" : "");
	else if ((rc = cluster_remove(t, &c)) == 0)
		wire_reply_delete(out);
	cluster_free(&c);
	return rc;
}

const struct verb_entry cluster_delete_entry = {
	.name = "cluster.delete",
	.decode = wire_request_cluster_get,
	.exec = cluster_delete,
	.object = "uuid",
};
