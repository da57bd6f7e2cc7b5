/*
 * runidx.c: finding runs: the indexes of runs, run.list, which walks
 * them, and run_load(), a run of a workspace by its uuid.
 *
 * DB_RUNIDX, empty values; ts = submitted_ms, 8 bytes big-endian:
 *   'w' ws NUL ts uuid          every run of a workspace
 *   'd' def_uuid ts uuid        runs of a definition
 *   'c' cluster_uuid ts uuid    runs of a cluster
 *   's' ws NUL status ts uuid   runs of a workspace by status
 *   'f' finished_ts uuid        finished runs, oldest first (retention.c)
 *   'q' deadline_ms uuid        runs with a limit on time in queue, by
 *                               its end (policy.c)
 *   'h' schedule_uuid ts uuid   runs a schedule started: its history
 *   'l' schedule_uuid ts uuid   those of them not ended (max_concurrent_runs)
 *   'o' rerun_of ts uuid        the reruns of a run (run.list rerun_of)
 *   'n', 'a', 'y'               workflows' edges, waiting runs and runs
 *                               in line for a full queue: depend.c
 * The state machine (run.c) keeps 's', 'f' and 'l' with each status it
 * sets; submission adds 'w', 'd', 'c', 'h' and 'l', and a purge
 * (retention.c) takes all away but 'q', which its timer takes away when
 * it fires (whatever became of the run): a restart arms each timer again
 * from it.
 * Listing walks one of them newest first; nothing scans all runs. Loop
 * thread only, inside the turn's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define LIST_SCAN_MAX	10000	/* index entries one run.list may visit */

/* Index prefix of kind for id (status st for 's'), into b. */
static void
runidx_prefix(struct buf *b, char kind, const char *id, int st)
{
	uint8_t	s = (uint8_t)st;

	b->len = 0;
	buf_add(b, &kind, 1);
	buf_add(b, id, strlen(id));
	if (kind == 'w' || kind == 's')
		buf_add(b, "", 1);
	if (kind == 's')
		buf_add(b, &s, 1);
}

/* The entry of run uuid submitted at ts in index kind of id, into b. */
static void
runidx_key(struct buf *b, char kind, const char *id, int st, int64_t ts,
    const char *uuid)
{
	uint8_t	t[8];

	runidx_prefix(b, kind, id, st);
	be64_put(t, (uint64_t)ts);
	buf_add(b, t, 8);
	buf_add(b, uuid, UUID_LEN);
}

/* Add run r's entry to index kind of id; 0 or an LMDB error. */
int
runidx_put(struct txn *t, char kind, const char *id, int st,
    const struct run *r)
{
	struct buf	b = { 0 };
	int		rc;

	runidx_key(&b, kind, id, st, r->submitted_ms, r->uuid);
	rc = store_put(t, DB_RUNIDX, b.p, b.len, "", 0);
	buf_free(&b);
	return rc;
}

/* Remove run r's entry from index kind of id; 0 or an LMDB error. */
int
runidx_del(struct txn *t, char kind, const char *id, int st,
    const struct run *r)
{
	struct buf	b = { 0 };
	int		rc;

	runidx_key(&b, kind, id, st, r->submitted_ms, r->uuid);
	rc = store_del(t, DB_RUNIDX, b.p, b.len);
	buf_free(&b);
	return rc;
}

/* Add (or delete) the entry "{kind} {ms} {uuid}" of a time index. */
static int
runidx_time(struct txn *t, char kind, int64_t ms, const char *uuid, int add)
{
	uint8_t	k[1 + 8 + UUID_LEN];

	k[0] = (uint8_t)kind;
	be64_put(k + 1, (uint64_t)ms);
	memcpy(k + 9, uuid, UUID_LEN);
	return add ? store_put(t, DB_RUNIDX, k, sizeof k, "", 0) :
	    store_del(t, DB_RUNIDX, k, sizeof k);
}

/* Add (or delete) the run's entry of the finished index. */
int
runidx_finished(struct txn *t, const struct run *r, int add)
{
	return runidx_time(t, 'f', r->finished_ms, r->uuid, add);
}

/* Add (or delete) run uuid's queue deadline ms ('q'). */
int
runidx_queue_deadline(struct txn *t, const char *uuid, int64_t ms, int add)
{
	return runidx_time(t, 'q', ms, uuid, add);
}

/* Call fn(uuid, deadline, arg) for each queue deadline, earliest first. */
int
runidx_walk_deadlines(struct txn *t, void (*fn)(const char *, int64_t,
    void *), void *arg)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	char		 uuid[UUID_LEN + 1], q = 'q';
	int		 rc;

	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		return rc;
	k.mv_data = &q;
	k.mv_size = 1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 1 + 8 + UUID_LEN ||
		    *(const char *)k.mv_data != 'q')
			break;
		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (const char *)k.mv_data + 9);
		fn(uuid, (int64_t)be64_get((const uint8_t *)k.mv_data + 1),
		    arg);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Walk the 's' index of ws for status st, oldest first, calling fn for
 * each run uuid until it returns non-zero.
 */
int
runidx_walk_status(struct txn *t, const char *ws, enum rstatus st,
    int (*fn)(struct txn *, const char *, void *), void *arg)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct buf	 pre = { 0 };
	char		 uuid[UUID_LEN + 1];
	char		**ids = NULL;
	size_t		 n = 0, i;
	int		 rc;

	/* Collect first: fn may write to the index being walked. */
	runidx_prefix(&pre, 's', ws, st);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0) {
		buf_free(&pre);
		return rc;
	}
	k.mv_data = pre.p;
	k.mv_size = pre.len;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != pre.len + 8 + UUID_LEN ||
		    memcmp(k.mv_data, pre.p, pre.len) != 0)
			break;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrndup((char *)k.mv_data + pre.len + 8, UUID_LEN);
	}
	mdb_cursor_close(c);
	buf_free(&pre);
	rc = rc == MDB_NOTFOUND ? 0 : rc;
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(uuid, sizeof uuid, "%s", ids[i]);
		rc = fn(t, uuid, arg);
	}
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}


/*
 * How many entries index kind of id holds, counting up to max (0: all)
 * into *n. 0 or an LMDB error.
 */
int
runidx_count(struct txn *t, char kind, const char *id, uint32_t max,
    uint32_t *n)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct buf	 pre = { 0 };
	int		 rc;

	*n = 0;
	runidx_prefix(&pre, kind, id, 0);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0) {
		buf_free(&pre);
		return rc;
	}
	k.mv_data = pre.p;
	k.mv_size = pre.len;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    (max == 0 || *n < max); rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != pre.len + 8 + UUID_LEN ||
		    memcmp(k.mv_data, pre.p, pre.len) != 0)
			break;
		(*n)++;
	}
	mdb_cursor_close(c);
	buf_free(&pre);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ------------------------------------------------------------ loading */

/* Load run uuid of workspace ws; 0, 0 with e set (NOT_FOUND), or error. */
int
run_load(struct txn *t, const char *ws, const char *uuid, struct run *r,
    struct error *e)
{
	int	rc;

	if (uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	rc = store_get_run(t, uuid, r);
	if (rc == 0 && strcmp(r->ws, ws) != 0) {
		run_free(r);
		rc = MDB_NOTFOUND;
	}
	if (rc == MDB_NOTFOUND) {
		error_set(e, E_NOT_FOUND, "uuid", "run '%s' not found in "
		    "workspace '%s'", uuid, ws);
		return 0;
	}
	return rc;
}

/* ------------------------------------------------------------ run.list */

/* The index run.list q walks, into pre; the key its page ends at, seek. */
static void
list_seek(const struct request *q, struct buf *pre, struct buf *seek)
{
	uint8_t	tsb[8];

	if (q->status != RS_NONE)
		runidx_prefix(pre, 's', q->ws, q->status);
	else if (q->def_uuid != NULL)
		runidx_prefix(pre, 'd', q->def_uuid, 0);
	else if (q->cluster_uuid != NULL)
		runidx_prefix(pre, 'c', q->cluster_uuid, 0);
	else if (q->sched_uuid != NULL)
		runidx_prefix(pre, 'h', q->sched_uuid, 0);
	else if (q->rerun_of != NULL)
		runidx_prefix(pre, 'o', q->rerun_of, 0);
	else
		runidx_prefix(pre, 'w', q->ws, 0);
	/* Seek just past the newest entry to return, then walk back. */
	buf_add(seek, pre->p, pre->len);
	if (q->page.set) {
		be64_put(tsb, q->page.ts);
		buf_add(seek, tsb, 8);
		buf_add(seek, q->page.uuid, UUID_LEN);
	} else {
		be64_put(tsb, q->before_ms != 0 ? (uint64_t)q->before_ms :
		    UINT64_MAX);
		buf_add(seek, tsb, 8);
	}
}

/* Put c on the newest entry before seek; 0, MDB_NOTFOUND or an error. */
static int
list_first(MDB_cursor *c, const struct buf *seek, MDB_val *k, MDB_val *v)
{
	int	rc;

	k->mv_data = seek->p;
	k->mv_size = seek->len;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, k, v, MDB_LAST);
	else if (rc == 0 && k->mv_size == seek->len &&
	    memcmp(k->mv_data, seek->p, seek->len) == 0)
		rc = mdb_cursor_get(c, k, v, MDB_PREV);	/* the token */
	else if (rc == 0)
		rc = mdb_cursor_get(c, k, v, MDB_PREV);
	return rc;
}

/* Is r one of the runs run.list q asks for? */
static int
list_match(const struct request *q, const struct run *r)
{
	return strcmp(r->ws, q->ws) == 0 &&
	    (q->status == RS_NONE || r->status == q->status) &&
	    (q->def_uuid == NULL || strcmp(r->def_uuid, q->def_uuid) == 0) &&
	    (q->cluster_uuid == NULL ||
	    strcmp(r->cluster_uuid, q->cluster_uuid) == 0) &&
	    (q->sched_uuid == NULL ||
	    strcmp(r->sched_uuid, q->sched_uuid) == 0) &&
	    (q->rerun_of == NULL || strcmp(r->rerun_of, q->rerun_of) == 0);
}

/*
 * A page of runs, newest first: as many as page_size asks and the reply
 * can carry (wire_list_room()); the next page starts after the last one.
 */
static int
run_list(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct buf	 pre = { 0 }, seek = { 0 };
	struct run	*runs;
	struct pagepos	 more, seen;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 ts = 0;
	char		 uuid[UUID_LEN + 1] = "";
	size_t		 n = 0, scanned = 0, room = wire_list_room(q), sz;
	int		 rc;

	memset(&more, 0, sizeof more);
	memset(&seen, 0, sizeof seen);
	list_seek(q, &pre, &seek);
	runs = xcalloc(q->page_size, sizeof *runs);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		goto out;
	for (rc = list_first(c, &seek, &k, &v); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		const uint8_t	*kp = k.mv_data;
		struct run	*r = &runs[n];

		if (k.mv_size != pre.len + 8 + UUID_LEN ||
		    memcmp(kp, pre.p, pre.len) != 0)
			break;
		ts = be64_get(kp + pre.len);
		if (q->after_ms != 0 && ts < (uint64_t)q->after_ms)
			break;
		if (n == q->page_size || ++scanned > LIST_SCAN_MAX) {
			/* More may follow: resume after the last one seen. */
			more = seen;
			break;
		}
		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (const char *)kp + pre.len + 8);
		seen.set = 1;
		seen.ts = ts;
		memcpy(seen.uuid, uuid, sizeof seen.uuid);
		memset(r, 0, sizeof *r);
		if ((rc = store_get_run(t, uuid, r)) == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			break;
		if (!list_match(q, r)) {
			run_free(r);
			continue;
		}
		if ((rc = queue_position(t, r)) != 0) {
			run_free(r);
			break;
		}
		if ((sz = wire_size_run(r)) > room) {
			/* The reply is full: the next page starts here. */
			if (n == 0)
				wire_error_too_large(e, "page_token", sz,
				    q->reply_max, "a job run is too large to "
				    "send");
			else {
				more.set = 1;
				more.ts = (uint64_t)runs[n - 1].submitted_ms;
				memcpy(more.uuid, runs[n - 1].uuid,
				    sizeof more.uuid);
			}
			run_free(r);
			break;
		}
		room -= sz;
		n++;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && e->code == E_OK)
		wire_reply_runs(out, q->ws, runs, n, more.set ? &more : NULL);
out:
	while (n > 0)
		run_free(&runs[--n]);
	free(runs);
	buf_free(&pre);
	buf_free(&seek);
	return rc;
}

const struct verb_entry run_list_entry = {
	.name = "run.list",
	.decode = wire_request_run_list,
	.exec = run_list,
	.object = "page_token",
};
