/*
 * cluster.c: clusters: load one by uuid or name, insert one with its name,
 * remove one; the totals over all of them (run_totals(), for notify.c).
 * A cluster runs one run at a time; the others wait in its FIFO queue
 * (queue.c). A cluster's name is unique in its workspace.
 * These sit below the state machine (run.c), which removes an ephemeral
 * cluster with its run; the cluster.* verbs, which resume a cluster's
 * queue through it, are in clusterverb.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

NAMED_KIND(cluster_kind, cluster, struct cluster, "cluster",
    DB_CLUSTER_NAMES);

/*
 * Load a cluster of workspace ws by uuid, or by name when uuid is NULL.
 * Returns 0 (found), 0 with e set (refused), or a storage error.
 */
int
cluster_load(struct txn *t, const char *ws, const char *uuid,
    const char *name, struct cluster *c, struct error *e)
{
	return named_load(t, &cluster_kind, ws, uuid, name, c, e);
}

/* Store a new cluster with its name; ALREADY_EXISTS in e if taken. */
int
cluster_insert(struct txn *t, struct cluster *c, struct error *e)
{
	struct buf	 key = { 0 };
	MDB_val		 v;
	int		 rc;

	store_name_key(&key, c->ws, c->name);
	rc = store_get(t, DB_CLUSTER_NAMES, key.p, key.len, &v);
	if (rc == 0) {
		error_set(e, E_EXISTS, "name", "a cluster named '%s' exists in "
		    "workspace '%s'", c->name, c->ws);
		rc = 0;
	} else if (rc == MDB_NOTFOUND &&
	    (rc = store_put_cluster(t, c)) == 0 &&
	    (rc = store_put(t, DB_CLUSTER_NAMES, key.p, key.len, c->uuid,
	    UUID_LEN)) == 0)
		log_info("cluster created ws=%s cluster=%s name=%s ephemeral=%d",
		    c->ws, c->uuid, c->name, c->ephemeral);
	buf_free(&key);
	return rc;
}

/* Delete a cluster and its name. */
int
cluster_remove(struct txn *t, struct cluster *c)
{
	struct buf	 key = { 0 };
	int		 rc;

	store_name_key(&key, c->ws, c->name);
	if ((rc = store_del(t, DB_CLUSTERS, c->uuid, UUID_LEN)) == 0 &&
	    (rc = store_del(t, DB_CLUSTER_NAMES, key.p, key.len)) == 0)
		log_info("cluster deleted ws=%s cluster=%s", c->ws, c->uuid);
	buf_free(&key);
	return rc;
}

/* One cluster's share of the totals. */
static void
totals_cb(const struct cluster *c, void *arg)
{
	struct cluster_totals	*t = arg;

	t->clusters++;
	t->queued += c->queued;
	t->active += c->active_run[0] != '\0';
}

/* Clusters, queued and running runs, for status lines. */
void
run_totals(struct cluster_totals *t)
{
	memset(t, 0, sizeof *t);
	store_each_cluster(totals_cb, t);
}
