/*
 * queue.c: the per-cluster FIFO queues of runs waiting for their cluster.
 *
 * DB_QUEUE: key cluster_uuid (36 bytes) + sequence (8 bytes big-endian),
 * value the run's uuid. A cluster numbers its submissions (queue_next), so
 * its entries sort in arrival order and the head is the first key with its
 * uuid; its length is kept in the cluster's record (cluster.queued) by the
 * caller. Only these functions know the key; the state machine (run.c)
 * decides what goes in and when the head is taken. Loop thread only,
 * inside a write transaction.
 */
#include <stdio.h>
#include <string.h>

#include "batchd.h"

/* The queue key of sequence seq of cluster. */
static void
queue_key(uint8_t *k, const char *cluster, uint64_t seq)
{
	memcpy(k, cluster, UUID_LEN);
	be64_put(k + UUID_LEN, seq);
}

/* Put run uuid at sequence seq of cluster's queue; 0 or an LMDB error. */
int
queue_put(struct txn *t, const char *cluster, uint64_t seq, const char *uuid)
{
	uint8_t	qk[UUID_LEN + 8];

	queue_key(qk, cluster, seq);
	return store_put(t, DB_QUEUE, qk, sizeof qk, uuid, UUID_LEN);
}

/* Remove sequence seq from cluster's queue; 0 or an LMDB error. */
int
queue_del(struct txn *t, const char *cluster, uint64_t seq)
{
	uint8_t	qk[UUID_LEN + 8];

	queue_key(qk, cluster, seq);
	return store_del(t, DB_QUEUE, qk, sizeof qk);
}

/*
 * Take the head of cluster's queue: its run's uuid into uuid (UUID_LEN + 1
 * bytes). 0, MDB_NOTFOUND when the queue is empty, or an LMDB error.
 */
int
queue_take(struct txn *t, const char *cluster, char *uuid)
{
	MDB_cursor	*cur;
	MDB_val		 key, val;
	uint8_t		 qk[UUID_LEN + 8];
	int		 rc;

	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_QUEUE),
	    &cur)) != 0)
		return rc;
	queue_key(qk, cluster, 0);
	key.mv_data = qk;
	key.mv_size = sizeof qk;
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && (key.mv_size != sizeof qk ||
	    memcmp(key.mv_data, cluster, UUID_LEN) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0) {
		snprintf(uuid, UUID_LEN + 1, "%.*s", (int)val.mv_size,
		    (char *)val.mv_data);
		rc = store_cursor_del(cur, DB_QUEUE);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* 1-based place of a queued run in its cluster's queue (for replies). */
int
queue_position(struct txn *t, struct run *r)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 key[UUID_LEN + 8];
	uint32_t	 pos = 0;
	int		 rc;

	r->queue_position = 0;
	if (r->status != RS_PENDING || r->queue_seq == 0)
		return 0;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_QUEUE),
	    &c)) != 0)
		return rc;
	queue_key(key, r->cluster_uuid, 0);
	k.mv_data = key;
	k.mv_size = sizeof key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof key ||
		    memcmp(k.mv_data, r->cluster_uuid, UUID_LEN) != 0)
			break;
		pos++;
		if (be64_get((uint8_t *)k.mv_data + UUID_LEN) == r->queue_seq) {
			r->queue_position = pos;
			break;
		}
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}
