/*
 * store-migrate.c's tests: schema migrations (1 to 2, 2 to 3: runs'
 * configurations moved into shared snapshots).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "store.h"

/* Schema 1 (runs and events keyed by uuid) opens as schema 2. */
struct runs_op {
	struct op	 op;
	int		 rc;
	uint64_t	 id[2];
	int		 events;
};

static int
runs_apply(struct op *op, struct txn *t)
{
	static const char *uuids[2] = {
	    "00000000-0000-4000-8000-00000000000b",
	    "00000000-0000-4000-8000-00000000000a" };
	struct runs_op	*o = (struct runs_op *)op;
	struct run	 r;
	MDB_val		 v;
	uint8_t		 k[16];
	int		 i, seq;

	for (i = 0; i < 2; i++) {
		memset(&r, 0, sizeof r);
		if ((o->rc = store_get_run(t, uuids[i], &r)) != 0)
			return 0;
		o->id[i] = r.id;
		for (seq = 1; seq <= 2; seq++) {
			store_event_key(k, r.id, (uint64_t)seq);
			if (store_get(t, DB_EVENTS, k, sizeof k, &v) == 0 &&
			    v.mv_size == 2)
				o->events++;
		}
		run_free(&r);
	}
	return 0;
}

static void
runs_done(struct op *op)
{
	(void)op;
}

static void
runs_fail(struct op *op, int rc)
{
	((struct runs_op *)op)->rc = rc;
}

void
test_store_migrate_1(void)
{
	static const char *uuids[2] = {
	    "00000000-0000-4000-8000-00000000000a",
	    "00000000-0000-4000-8000-00000000000b" };
	struct runs_op	 o = { { runs_apply, runs_fail, runs_done,
	    { NULL, NULL } }, -1, { 0, 0 }, 0 };
	struct run	 r;
	struct buf	 b = { 0 };
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 meta, runs, events;
	MDB_val		 k, v;
	uint8_t		 ek[UUID_LEN + 8];
	char		*cause = NULL;
	int		 i, seq;

	CHECK(mkdir("lmdb", 0700) == 0);
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", MDB_CREATE, &meta) == 0);
	CHECK(mdb_dbi_open(t, "runs", MDB_CREATE, &runs) == 0);
	CHECK(mdb_dbi_open(t, "events", MDB_CREATE, &events) == 0);
	k.mv_data = "schema_version";
	k.mv_size = 14;
	v.mv_data = "1";
	v.mv_size = 1;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	for (i = 0; i < 2; i++) {	/* "…0b" was submitted first */
		memset(&r, 0, sizeof r);
		snprintf(r.uuid, sizeof r.uuid, "%s", uuids[i]);
		r.ws = "w";
		r.status = RS_SUCCEEDED;
		r.submitted_ms = 2000 - 1000 * i;
		r.event_seq = 2;
		b.len = 0;
		wire_encode_run(&b, &r);
		k.mv_data = r.uuid;
		k.mv_size = UUID_LEN;
		v.mv_data = b.p;
		v.mv_size = b.len;
		CHECK(mdb_put(t, runs, &k, &v, 0) == 0);
		for (seq = 1; seq <= 2; seq++) {
			memcpy(ek, r.uuid, UUID_LEN);
			be64_put(ek + UUID_LEN, (uint64_t)seq);
			k.mv_data = ek;
			k.mv_size = sizeof ek;
			v.mv_data = "ev";
			v.mv_size = 2;
			CHECK(mdb_put(t, events, &k, &v, 0) == 0);
		}
	}
	buf_free(&b);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	store_submit(&o.op);
	store_flush_now();
	CHECK(o.rc == 0);
	CHECK(o.id[0] == 1 && o.id[1] == 2);	/* in submission order */
	CHECK(o.events == 4);
	store_close();
}

/* Old records (schema 2): ids 1 and 2 of one definition (2 with args and
 * env of its own), 3 a SQL run in another workspace. */
static const char *mig_uuids[3] = {
    "00000000-0000-4000-8000-0000000000a1",
    "00000000-0000-4000-8000-0000000000a2",
    "00000000-0000-4000-8000-0000000000a3" };

struct mig_check {
	struct run	 r[3];
	size_t		 rec_size[3];
	size_t		 configs[3];	/* at first, after 1 and 2 went */
	uint64_t	 runs_w, runs_v, defs_w, runs_w_after;
	int		 rc[3];
};

static int
mig_fn(struct txn *t, void *arg)
{
	struct mig_check	*m = arg;
	MDB_val			 v;
	uint8_t			 k[8];
	int			 i, rc;

	for (i = 0; i < 3; i++) {
		if ((m->rc[i] = store_get_run(t, mig_uuids[i], &m->r[i])) != 0)
			continue;
		be64_put(k, m->r[i].id);
		if (store_get(t, DB_RUNS, k, 8, &v) == 0)
			m->rec_size[i] = v.mv_size;
	}
	m->configs[0] = entries(t, DB_CONFIGS);
	if ((rc = store_ws_count(t, "runs", "w", 0, &m->runs_w)) != 0 ||
	    (rc = store_ws_count(t, "runs", "v", 0, &m->runs_v)) != 0 ||
	    (rc = store_ws_count(t, "jobdefs", "w", 0, &m->defs_w)) != 0)
		return rc;
	if (m->rc[0] != 0 || m->rc[1] != 0)
		return 0;
	if ((rc = store_del_run(t, &m->r[0])) != 0)
		return rc;
	m->configs[1] = entries(t, DB_CONFIGS);
	if ((rc = store_del_run(t, &m->r[1])) != 0)
		return rc;
	m->configs[2] = entries(t, DB_CONFIGS);
	return store_ws_count(t, "runs", "w", 0, &m->runs_w_after);
}

/*
 * Schema 2 -> 3, from records written the old way: every run's
 * configuration is what it was, the runs of one definition share one
 * snapshot whatever their own args and env, a record no longer carries
 * the configuration, the workspaces' counts are made, and purging the
 * runs gives the snapshot back.
 */
void
test_store_migrate_2(void)
{
	struct mig_check m;
	struct jobdef	 d;
	struct run	 r;
	struct buf	 b = { 0 };
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 meta, runs, ids, defs;
	MDB_val		 k, v;
	uint64_t	 n = 3;
	uint8_t		 ik[8];
	size_t		 old_size = 0;
	char		*cause = NULL;
	int		 i;

	memset(&m, 0, sizeof m);
	memset(&d, 0, sizeof d);
	CHECK(mkdir("lmdb", 0700) == 0);
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 1 << 22);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", MDB_CREATE, &meta) == 0);
	CHECK(mdb_dbi_open(t, "runs_by_id", MDB_CREATE, &runs) == 0);
	CHECK(mdb_dbi_open(t, "run_ids", MDB_CREATE, &ids) == 0);
	CHECK(mdb_dbi_open(t, "jobdefs", MDB_CREATE, &defs) == 0);
	k.mv_data = "schema_version";
	k.mv_size = 14;
	v.mv_data = "2";
	v.mv_size = 1;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	k.mv_data = "run_id";
	k.mv_size = 6;
	v.mv_data = &n;
	v.mv_size = sizeof n;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	snprintf(d.uuid, sizeof d.uuid, "00000000-0000-4000-8000-0000000000d1");
	d.ws = xstrdup("w");
	d.name = xstrdup("big");
	big_config(&d.config, 20000, "job.py");
	wire_encode_jobdef(&b, &d);
	k.mv_data = d.uuid;
	k.mv_size = UUID_LEN;
	v.mv_data = b.p;
	v.mv_size = b.len;
	CHECK(mdb_put(t, defs, &k, &v, 0) == 0);
	for (i = 0; i < 3; i++) {
		memset(&r, 0, sizeof r);
		snprintf(r.uuid, sizeof r.uuid, "%s", mig_uuids[i]);
		r.ws = xstrdup(i < 2 ? "w" : "v");
		r.status = RS_SUCCEEDED;
		r.submitted_ms = 1000 + i;
		if (i < 2) {	/* as run_submit() of schema 2 made it */
			memcpy(r.def_uuid, d.uuid, sizeof r.def_uuid);
			jobconfig_copy(&r.config, &d.config);
		} else {
			r.config.type = JT_SQL;
			jobconfig_fill_defaults(&r.config);
			r.sql = xstrdup("select 1");
		}
		if (i == 1) {
			r.has_args = 1;
			r.args = xstrdup("--run");
			free(r.config.args);
			r.config.args = xstrdup("--run");
			kvlist_set(&r.env, "B", "from-run");
			kvlist_set(&r.env, "C", "new");
			kvlist_set(&r.config.env, "B", "from-run");
			kvlist_set(&r.config.env, "C", "new");
		}
		r.type = r.config.type;
		wire_encode_run(&b, &r);
		old_size = b.len > old_size ? b.len : old_size;
		be64_put(ik, (uint64_t)i + 1);
		k.mv_data = ik;
		k.mv_size = 8;
		v.mv_data = b.p;
		v.mv_size = b.len;
		CHECK(mdb_put(t, runs, &k, &v, 0) == 0);
		k.mv_data = r.uuid;
		k.mv_size = UUID_LEN;
		v.mv_data = ik;
		v.mv_size = 8;
		CHECK(mdb_put(t, ids, &k, &v, 0) == 0);
		run_free(&r);
	}
	buf_free(&b);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);
	CHECK(old_size > 20000);

	CHECK(store_open(".", 1 << 22, &cause) == 0);
	CHECK(in_turn(mig_fn, &m) == 0);
	CHECK(m.rc[0] == 0 && m.rc[1] == 0 && m.rc[2] == 0);
	/* Each run executes what it did. */
	CHECK(m.r[0].has_config_ref && m.r[1].has_config_ref);
	CHECK(strcmp(m.r[0].config.args, "--def") == 0);
	CHECK(strcmp(m.r[1].config.args, "--run") == 0);
	CHECK(strcmp(kvlist_get(&m.r[0].config.env, "B"), "from-def") == 0);
	CHECK(strcmp(kvlist_get(&m.r[1].config.env, "B"), "from-run") == 0);
	CHECK(strcmp(kvlist_get(&m.r[1].config.env, "C"), "new") == 0);
	CHECK(kvlist_get(&m.r[0].config.env, "C") == NULL);
	CHECK(strlen(kvlist_get(&m.r[1].config.env, "BIG")) == 20000);
	CHECK(m.r[0].config.env.n == 2 && m.r[1].config.env.n == 3);
	CHECK(strcmp(m.r[0].config.source_location, "job.py") == 0);
	CHECK(m.r[2].config.type == JT_SQL && m.r[2].config.env.n == 0);
	/* Two snapshots: the definition's (runs 1 and 2), the SQL one. */
	CHECK(m.configs[0] == 2);
	CHECK(m.rec_size[0] < 1000 && m.rec_size[1] < 1000);
	CHECK(m.runs_w == 2 && m.runs_v == 1 && m.defs_w == 1);
	/* Purged: the last run of a snapshot takes it along. */
	CHECK(m.configs[1] == 2 && m.configs[2] == 1);
	CHECK(m.runs_w_after == 0);
	for (i = 0; i < 3; i++)
		run_free(&m.r[i]);
	store_close();
	jobdef_free(&d);
	/* Migrated once: opens as schema 3. */
	CHECK(store_open(".", 1 << 22, &cause) == 0);
	store_close();
}
