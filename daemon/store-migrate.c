/*
 * store-migrate.c: the schema version, and the migrations that rewrite an
 * older store's records before any other code reads them. The layout of
 * the records, and how to bump the schema, are at the top of store-rec.c.
 *
 * store_open() checks the version in the first transaction
 * (store_schema()): a new store gets SCHEMA_VERSION, schema 1 is migrated
 * to 2 in that transaction (migrate_1()), a version this batchd does not
 * know stops it. Schema 2 is migrated to 3 (store_migrate_2()) only once
 * the redo log the older batchd left is applied and checkpointed: its
 * frames hold records of schema 2. A migration's writes bypass the redo
 * log; LMDB commits them, with the new version, in one transaction, so a
 * crash leaves the store of the old schema or of the new one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "store-int.h"

#define SCHEMA_VERSION	"3"

struct idr_key {
	uint64_t	ms;
	char		uuid[UUID_LEN + 1];
};

static int	migrate_1(MDB_txn *);
static int	migrate_2(MDB_txn *);
static int	migrate_snapshot(struct txn *, struct run *, struct jobdef *,
		    struct buf *);
static void	config_env_drop(struct kvlist *, const char *);

/*
 * Check the schema version in t, the first transaction: a new store gets
 * SCHEMA_VERSION; schema 1 is migrated to 2 in t; *old2 is set when the
 * store is of schema 2, to be migrated by store_migrate_2(). 0, or -1 with
 * *cause (t is the caller's to abort).
 */
int
store_schema(MDB_txn *t, int *old2, char **cause)
{
	MDB_dbi	meta = store_dbi(DB_META);
	MDB_val	k, v;
	int	rc;

	k.mv_data = "schema_version";
	k.mv_size = strlen(k.mv_data);
	rc = mdb_get(t, meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_data = SCHEMA_VERSION;
		v.mv_size = strlen(SCHEMA_VERSION);
		rc = mdb_put(t, meta, &k, &v, 0);
	} else if (rc == 0 && v.mv_size == 1 &&
	    memcmp(v.mv_data, "1", 1) == 0) {
		if ((rc = migrate_1(t)) == 0) {
			v.mv_data = "2";
			v.mv_size = 1;
			rc = mdb_put(t, meta, &k, &v, 0);
			*old2 = 1;
		}
	} else if (rc == 0 && v.mv_size == 1 &&
	    memcmp(v.mv_data, "2", 1) == 0) {
		*old2 = 1;	/* once the redo log (of schema 2) is in */
	} else if (rc == 0 && (v.mv_size != strlen(SCHEMA_VERSION) ||
	    memcmp(v.mv_data, SCHEMA_VERSION, v.mv_size) != 0)) {
		xasprintf(cause, "storage schema version '%.*s' is not the "
		    "supported '%s'", (int)v.mv_size, (char *)v.mv_data,
		    SCHEMA_VERSION);
		return -1;
	}
	if (rc != 0) {
		xasprintf(cause, "storage: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * A store of schema 2, its redo log applied in live: checkpoint (the log's
 * frames are records of schema 2: in LMDB first), then migrate it to
 * SCHEMA_VERSION in a transaction of its own. 0, or -1 with *cause.
 */
int
store_migrate_2(char **cause)
{
	MDB_txn	*t;
	MDB_val	 k, v;
	int	 rc;

	if ((rc = store_checkpoint()) != 0 ||
	    (rc = mdb_txn_begin(store_env(), NULL, 0, &t)) != 0)
		goto fail;
	k.mv_data = "schema_version";
	k.mv_size = strlen(k.mv_data);
	v.mv_data = SCHEMA_VERSION;
	v.mv_size = strlen(SCHEMA_VERSION);
	if ((rc = migrate_2(t)) != 0 ||
	    (rc = mdb_put(t, store_dbi(DB_META), &k, &v, 0)) != 0) {
		mdb_txn_abort(t);
		goto fail;
	}
	if ((rc = mdb_txn_commit(t)) != 0)
		goto fail;
	return 0;
fail:
	xasprintf(cause, "storage: migrating schema 2 to %s: %s",
	    SCHEMA_VERSION, mdb_strerror(rc));
	return -1;
}

/* Submission order: time, then uuid. */
static int
idr_cmp(const void *a, const void *b)
{
	const struct idr_key	*x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->uuid, y->uuid);
}

/*
 * Schema 1 -> 2: runs and events keyed by uuid become keyed by an id, in
 * submission order; the old databases are deleted. One transaction.
 */
static int
migrate_1(MDB_txn *t)
{
	MDB_dbi		 old_runs, old_events;
	MDB_cursor	*c;
	MDB_val		 k, v, nk, nv;
	struct run	 r;
	uint8_t		 ik[8], ek[16];
	uint64_t	 n = 0;
	size_t		 i, nruns = 0;
	struct idr_key	*ids = NULL;
	int		 rc;

	if ((rc = mdb_dbi_open(t, "runs", 0, &old_runs)) != 0 ||
	    (rc = mdb_dbi_open(t, "events", 0, &old_events)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	/* Ids in submission order. */
	if ((rc = mdb_cursor_open(t, old_runs, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		memset(&r, 0, sizeof r);
		if (k.mv_size != UUID_LEN ||
		    wire_decode_run(v.mv_data, v.mv_size, &r) == -1)
			continue;
		ids = xreallocarray(ids, nruns + 1, sizeof *ids);
		ids[nruns].ms = (uint64_t)r.submitted_ms;
		memcpy(ids[nruns].uuid, k.mv_data, UUID_LEN);
		ids[nruns].uuid[UUID_LEN] = '\0';
		nruns++;
		run_free(&r);
	}
	mdb_cursor_close(c);
	qsort(ids, nruns, sizeof *ids, idr_cmp);
	for (i = 0, rc = 0; i < nruns && rc == 0; i++) {
		k.mv_data = ids[i].uuid;
		k.mv_size = UUID_LEN;
		if ((rc = mdb_get(t, old_runs, &k, &v)) != 0)
			break;
		be64_put(ik, ++n);
		nk.mv_data = ik;
		nk.mv_size = 8;
		if ((rc = mdb_put(t, store_dbi(DB_RUNS), &nk, &v, 0)) != 0 ||
		    (rc = mdb_put(t, store_dbi(DB_RUN_IDS), &k, &nk, 0)) != 0)
			break;
		memset(&r, 0, sizeof r);
		if (wire_decode_run(v.mv_data, v.mv_size, &r) == -1)
			continue;
		for (uint64_t seq = 1; seq <= r.event_seq && rc == 0; seq++) {
			uint8_t	ok[UUID_LEN + 8];

			memcpy(ok, ids[i].uuid, UUID_LEN);
			be64_put(ok + UUID_LEN, seq);
			k.mv_data = ok;
			k.mv_size = sizeof ok;
			if ((rc = mdb_get(t, old_events, &k, &v)) != 0) {
				rc = rc == MDB_NOTFOUND ? 0 : rc;
				continue;
			}
			store_event_key(ek, n, seq);
			nk.mv_data = ek;
			nk.mv_size = sizeof ek;
			nv = v;
			rc = mdb_put(t, store_dbi(DB_EVENTS), &nk, &nv, 0);
		}
		run_free(&r);
	}
	free(ids);
	if (rc == 0) {
		k.mv_data = "run_id";
		k.mv_size = 6;
		v.mv_data = &n;
		v.mv_size = sizeof n;
		rc = mdb_put(t, store_dbi(DB_META), &k, &v, 0);
	}
	if (rc == 0 && (rc = mdb_drop(t, old_runs, 1)) == 0)
		rc = mdb_drop(t, old_events, 1);
	if (rc == 0)
		log_info("storage: schema 1 migrated to 2: %llu runs",
		    (unsigned long long)n);
	return rc;
}

/*
 * Schema 2 -> 3: each run's configuration becomes a reference to a shared
 * snapshot (what it had, less what its args and env put over it, so that
 * runs of one definition share one), and the workspaces' counts of runs
 * and definitions are made. One transaction, without the redo log.
 */
static int
migrate_2(MDB_txn *mt)
{
	struct txn	 t = { .mdb = mt };
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct run	 r;
	struct jobdef	 d;
	struct buf	 b = { 0 };
	uint64_t	*ids = NULL, nruns = 0, ndefs = 0;
	uint8_t		 ik[8];
	size_t		 n = 0, i;
	int		 rc;

	memset(&d, 0, sizeof d);
	store_redo_bypass(1);
	/* The ids first: a write moves what a cursor's key points at. */
	if ((rc = mdb_cursor_open(mt, store_dbi(DB_RUNS), &c)) != 0)
		goto out;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (k.mv_size == 8) {
			ids = xreallocarray(ids, n + 1, sizeof *ids);
			ids[n++] = be64_get(k.mv_data);
		}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		goto out;
	for (i = 0, rc = 0; i < n && rc == 0; i++) {
		be64_put(ik, ids[i]);
		memset(&r, 0, sizeof r);
		if ((rc = store_get(&t, DB_RUNS, ik, 8, &v)) != 0)
			break;
		if (wire_decode_run(v.mv_data, v.mv_size, &r) == -1) {
			log_warnx("storage: migration: run record %llu does not "
			    "decode; left as it is", (unsigned long long)ids[i]);
			continue;
		}
		if (!r.has_config_ref) {
			if ((rc = migrate_snapshot(&t, &r, &d, &b)) == 0 &&
			    (rc = store_config_ref(&t, &r.config,
			    r.config_ref)) == 0) {
				r.has_config_ref = 1;
				wire_encode_run_record(&b, &r);
				rc = store_put(&t, DB_RUNS, ik, 8, b.p, b.len);
			}
		}
		if (rc == 0)
			rc = store_ws_count(&t, "runs", r.ws, 1, NULL);
		nruns++;
		run_free(&r);
	}
	jobdef_free(&d);
	if (rc != 0)
		goto out;
	if ((rc = mdb_cursor_open(mt, store_dbi(DB_JOBDEFS), &c)) != 0)
		goto out;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		memset(&d, 0, sizeof d);
		if (wire_decode_jobdef(v.mv_data, v.mv_size, &d) == -1)
			continue;
		rc = store_ws_count(&t, "jobdefs", d.ws, 1, NULL);
		jobdef_free(&d);
		if (rc != 0)
			break;
		ndefs++;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		log_info("storage: schema 2 migrated to 3: %llu runs, %llu job "
		    "definitions", (unsigned long long)nruns,
		    (unsigned long long)ndefs);
out:
	free(ids);
	buf_free(&b);
	store_redo_bypass(0);
	return rc;
}

/*
 * The snapshot of an old run r, into r->config: its definition's
 * configuration if that, with r's args and env over it, is what r holds
 * (the runs of a definition not updated since share it); else what r
 * holds less what r's args and env put over it. d caches the definition
 * last read, b is scratch. 0 or an LMDB error.
 */
static int
migrate_snapshot(struct txn *t, struct run *r, struct jobdef *d,
    struct buf *b)
{
	struct jobconfig	 c;
	struct buf		 want = { 0 };
	size_t			 i;
	int			 rc = 0, same = 0;

	if (r->def_uuid[0] != '\0' && strcmp(d->uuid, r->def_uuid) != 0) {
		jobdef_free(d);
		memset(d, 0, sizeof *d);
		if ((rc = store_get_jobdef(t, r->def_uuid, d)) == MDB_NOTFOUND ||
		    rc == EIO)
			rc = 0;
		else if (rc != 0)
			return rc;
	}
	if (r->def_uuid[0] != '\0' && strcmp(d->uuid, r->def_uuid) == 0) {
		jobconfig_copy(&c, &d->config);
		if (r->has_args) {
			free(c.args);
			c.args = r->args != NULL && *r->args != '\0' ?
			    xstrdup(r->args) : NULL;
		}
		for (i = 0; i < r->env.n; i++)
			kvlist_set(&c.env, r->env.v[i].key, r->env.v[i].value);
		wire_encode_jobconfig(&want, &c);
		wire_encode_jobconfig(b, &r->config);
		same = want.len == b->len && memcmp(want.p, b->p, b->len) == 0;
		buf_free(&want);
		jobconfig_free(&c);
	}
	if (same) {
		jobconfig_free(&r->config);
		jobconfig_copy(&r->config, &d->config);
		return 0;
	}
	/* Less what run_config() puts back over it. */
	if (r->has_args) {
		free(r->config.args);
		r->config.args = NULL;
	}
	for (i = 0; i < r->env.n; i++)
		config_env_drop(&r->config.env, r->env.v[i].key);
	return 0;
}

/* Remove name from the env list l, if there. */
static void
config_env_drop(struct kvlist *l, const char *name)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, name) == 0) {
			free(l->v[i].key);
			free(l->v[i].value);
			memmove(&l->v[i], &l->v[i + 1],
			    (l->n - i - 1) * sizeof *l->v);
			l->n--;
			return;
		}
}
