/*
 * store-rec.c: the records: what the databases hold, and the typed get
 * and put functions of each (store_get_run(), store_config_ref(), ...).
 * They read and write through store_get(), store_put() and store_del() in
 * the op's transaction (store-txn.c); nothing here knows of turns.
 *
 * Layout (named databases; values are protobuf records, see wire.c):
 *   meta          "schema_version" -> "3" (SCHEMA_VERSION, store-migrate.c)
 *   jobdefs       uuid -> JobDefinition
 *   jobdef_names  "{ws}/{name}" -> uuid
 *   clusters      uuid -> Cluster
 *   cluster_names "{ws}/{name}" -> uuid
 *   run_ids       run uuid -> run id (8 bytes, big-endian)
 *   runs_by_id    run id -> JobRun
 *   queue         cluster uuid | seq (8 bytes, big-endian) -> run uuid
 *   idem          "{ws}/{key}" -> run uuid
 *   runidx        index keys (run.c), empty values
 *   events_by_id  run id | seq (8 bytes each, big-endian) ->
 *                 JobRunStatusEvent
 *   outbox        seq (8 bytes, big-endian) -> subject length (2 bytes),
 *                 subject, payload: publications not yet confirmed
 *   configs       ref -> JobConfig: a configuration snapshot, stored once
 *                 however many runs execute it. ref (CONFIG_REF_LEN) is
 *                 the first 16 bytes of the SHA-256 of the record, then a
 *                 probe number (4 bytes, big-endian): 0, or the next free
 *                 one when another snapshot's hash begins alike (the bytes
 *                 are compared, never trusted to the hash)
 *   config_refs   ref -> runs that hold the snapshot (8 bytes, big-endian);
 *                 apart from configs so that a submission rewrites 8
 *                 bytes, not the snapshot. At 0 both keys go.
 *   schedules     uuid -> Schedule
 *   schedule_names "{ws}/{name}" -> uuid
 *   schedidx      't' next fire (8 bytes, big-endian ms) uuid -> "": the
 *                 schedules not paused, in the order they fire
 *                 (schedule.c); 'd' job definition uuid, schedule uuid ->
 *                 "": the schedules of a definition
 *   meta          also, counters of 8 bytes in the host's order
 *                 (store_counter_add()): "log_bytes": output bytes of
 *                 finished attempts, "run_id": the last run id given,
 *                 "ws_runs/{ws}", "ws_jobdefs/{ws}", "ws_schedules/{ws}":
 *                 the runs (live and finished), definitions and
 *                 schedules a workspace holds, for its quotas
 *                 (store_ws_count());
 *                 "redo_gen" -> the generation of the redo log's frames
 *                 not yet in LMDB (8 bytes, big-endian; store-env.c);
 *                 "trash/{run uuid}" -> "": a purged run whose files are
 *                 still to go (retention.c);
 *                 "logack/{run uuid}" | attempt (4 bytes, big-endian) |
 *                 stream (1 byte) -> the offset of the stream's output a
 *                 barrier confirmed (8 bytes, big-endian; logs.c)
 * A run record (JobRun) holds config_ref and no config; store_get_run()
 * rebuilds config from the snapshot, the run's args and its env, so a
 * run costs what its own request carried, not its definition's size.
 *   meta          also the identities of workspaces (store_ws_uid()):
 *                 "ws_uid/{ws}" -> the uid (and gid) of its jobs (4 bytes,
 *                 big-endian), "uid_ws/{uid}" (decimal) -> ws, its
 *                 reverse, and "ws_uid_next" -> the next uid to try (4
 *                 bytes, big-endian). Written once, never changed or
 *                 removed: a workspace keeps its uid, no two share one.
 *                 Added without a schema bump: no older record
 *                 changes meaning, and a store without them has simply
 *                 given no uid yet.
 * Runs and their events are keyed by an id given in submission order, not
 * by the (random) uuid: a submission appends to both B-trees instead of
 * dirtying a random leaf of each; only the small run_ids map takes a
 * random insert. Schema 1 keyed both by uuid ("runs", "events"); opening
 * it migrates it (migrate_1()). Schema 2 held each run's configuration in
 * its record and had no workspace counters; opening it migrates it
 * (migrate_2()), after the redo log the older batchd left is applied.
 *
 * Schedules (their databases, the runs' schedule fields, the runidx keys
 * 'h' and 'l') came without a schema bump: a store without them simply
 * has no schedule.
 *
 * Bumping the schema: change a record's meaning only with a new version
 * (SCHEMA_VERSION) and a migration in store-migrate.c, which store_open()
 * runs before any other code: it rewrites the old records, in one
 * transaction, then the version. A new key that gives no older record
 * another meaning needs no bump. Update this layout either way.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "store-int.h"

static int	config_unref(struct txn *, const uint8_t *);
static int	run_config(struct txn *, struct run *);

/*
 * Add delta to the 8-byte counter key in the meta database; the new value
 * in *out if not NULL. 0 or an LMDB error.
 */
int
store_counter_add(struct txn *t, const char *key, int64_t delta,
    uint64_t *out)
{
	MDB_val		v;
	uint64_t	n = 0;
	int		rc;

	rc = store_get(t, DB_META, key, strlen(key), &v);
	if (rc == 0 && v.mv_size == sizeof n)
		memcpy(&n, v.mv_data, sizeof n);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	n = delta < 0 && (uint64_t)-delta > n ? 0 : n + (uint64_t)delta;
	if (out != NULL)
		*out = n;
	return store_put(t, DB_META, key, strlen(key), &n, sizeof n);
}

/* A 4-byte big-endian number of the meta database; 0 or an LMDB error. */
static int
meta_u32(struct txn *t, const char *key, uint32_t *out)
{
	MDB_val	v;
	int	rc;

	if ((rc = store_get(t, DB_META, key, strlen(key), &v)) != 0)
		return rc;
	if (v.mv_size != 4)
		return MDB_CORRUPTED;
	*out = (uint32_t)((const uint8_t *)v.mv_data)[0] << 24 |
	    (uint32_t)((const uint8_t *)v.mv_data)[1] << 16 |
	    (uint32_t)((const uint8_t *)v.mv_data)[2] << 8 |
	    ((const uint8_t *)v.mv_data)[3];
	return 0;
}

/* Put a 4-byte big-endian number into the meta database. */
static int
meta_put_u32(struct txn *t, const char *key, uint32_t n)
{
	uint8_t	b[4] = { n >> 24, n >> 16, n >> 8, n };

	return store_put(t, DB_META, key, strlen(key), b, sizeof b);
}

/*
 * The uid of workspace ws's jobs (its gid is the same number): the one
 * stored, else the next of lo..hi that no workspace, no account and no
 * group has, stored now in t (*fresh set). The search starts at
 * "ws_uid_next" (lo when that is outside lo..hi, as after a change of the
 * range) and goes up, never back: uids are never given back. 0, ERANGE
 * when no uid of lo..hi is left, or an LMDB error.
 */
int
store_ws_uid(struct txn *t, const char *ws, uint32_t lo, uint32_t hi,
    uint32_t *uid, int *fresh)
{
	char		 key[80], rkey[32];
	uint32_t	 next;
	uint64_t	 u;
	MDB_val		 v;
	int		 rc;

	*fresh = 0;
	snprintf(key, sizeof key, "ws_uid/%s", ws);
	if ((rc = meta_u32(t, key, uid)) != MDB_NOTFOUND)
		return rc;
	if ((rc = meta_u32(t, "ws_uid_next", &next)) == 0 &&
	    (uint64_t)next == (uint64_t)hi + 1)
		return ERANGE;		/* the last one is given */
	if (rc == MDB_NOTFOUND || (rc == 0 && (next < lo || next > hi)))
		next = lo;
	else if (rc != 0)
		return rc;
	for (u = next; u <= hi; u++) {
		snprintf(rkey, sizeof rkey, "uid_ws/%llu", (unsigned long long)u);
		if ((rc = store_get(t, DB_META, rkey, strlen(rkey), &v)) == 0)
			continue;		/* a workspace's */
		if (rc != MDB_NOTFOUND)
			return rc;
		if (getpwuid((uid_t)u) != NULL || getgrgid((gid_t)u) != NULL)
			continue;		/* an account's */
		break;
	}
	if (u > hi)
		return ERANGE;
	*uid = (uint32_t)u;
	if ((rc = meta_put_u32(t, key, *uid)) != 0 ||
	    (rc = store_put(t, DB_META, rkey, strlen(rkey), ws,
	    strlen(ws))) != 0)
		return rc;
	/* hi + 1 (or 0, wrapped) says the range is used up. */
	if ((rc = meta_put_u32(t, "ws_uid_next", (uint32_t)(u + 1))) != 0)
		return rc;
	*fresh = 1;
	return 0;
}

/*
 * The uuid (into uuid[UUID_LEN + 1]) of name in workspace ws in the name
 * index db. 0, MDB_NOTFOUND or an LMDB error.
 */
int
store_resolve_name(struct txn *t, int db, const char *ws, const char *name,
    char *uuid)
{
	struct buf	key = { 0 };
	MDB_val		v;
	int		rc;

	store_name_key(&key, ws, name);
	rc = store_get(t, db, key.p, key.len, &v);
	buf_free(&key);
	if (rc == 0)
		snprintf(uuid, UUID_LEN + 1, "%.*s", (int)v.mv_size,
		    (char *)v.mv_data);
	return rc;
}

/* "{ws}/{name}" into b (replacing it). */
int
store_name_key(struct buf *b, const char *ws, const char *name)
{
	b->len = 0;
	buf_add(b, ws, strlen(ws));
	buf_add(b, "/", 1);
	buf_add(b, name, strlen(name));
	return 0;
}

/* Typed records. A record that does not decode is corruption: -1 -> EIO. */
#define RECORD(name, type, db, enc, dec, key)				\
int									\
store_get_##name(struct txn *t, const char *uuid, type *out)		\
{									\
	MDB_val	v;							\
	int	rc;							\
									\
	if ((rc = store_get(t, db, uuid, strlen(uuid), &v)) != 0)	\
		return rc;						\
	if (dec(v.mv_data, v.mv_size, out) == -1) {			\
		log_warnx("storage: " #name " %s does not decode", uuid); \
		return EIO;						\
	}								\
	return 0;							\
}									\
int									\
store_put_##name(struct txn *t, const type *in)				\
{									\
	struct buf	b = { 0 };					\
	int		rc;						\
									\
	enc(&b, in);							\
	rc = store_put(t, db, in->key, strlen(in->key), b.p, b.len);	\
	buf_free(&b);							\
	return rc;							\
}
RECORD(jobdef, struct jobdef, DB_JOBDEFS, wire_encode_jobdef,
    wire_decode_jobdef, uuid)
RECORD(cluster, struct cluster, DB_CLUSTERS, wire_encode_cluster,
    wire_decode_cluster, uuid)
RECORD(schedule, struct schedule, DB_SCHEDULES, wire_encode_schedule,
    wire_decode_schedule, uuid)


/* ------------------------------------------------------------ runs */

/* The key of run id's event seq, into k[16]. */
void
store_event_key(uint8_t *k, uint64_t id, uint64_t seq)
{
	be64_put(k, id);
	be64_put(k + 8, seq);
}

/* The id of run uuid; 0, MDB_NOTFOUND, EIO or an LMDB error. */
static int
run_id_get(struct txn *t, const char *uuid, uint64_t *id)
{
	MDB_val	v;
	int	rc;

	if ((rc = store_get(t, DB_RUN_IDS, uuid, strlen(uuid), &v)) != 0)
		return rc;
	if (v.mv_size != 8)
		return EIO;
	*id = be64_get(v.mv_data);
	return 0;
}

/* Run uuid, its configuration rebuilt (run_config()); 0, MDB_NOTFOUND or
 * an error. */
int
store_get_run(struct txn *t, const char *uuid, struct run *out)
{
	MDB_val		v;
	uint64_t	id;
	uint8_t		k[8];
	int		rc;

	if ((rc = run_id_get(t, uuid, &id)) != 0)
		return rc;
	be64_put(k, id);
	if ((rc = store_get(t, DB_RUNS, k, 8, &v)) != 0)
		return rc == MDB_NOTFOUND ? EIO : rc;	/* a map to nothing */
	if (wire_decode_run(v.mv_data, v.mv_size, out) == -1) {
		log_warnx("storage: run %s does not decode", uuid);
		return EIO;
	}
	out->id = id;
	return run_config(t, out);
}

/* Give a new run r its id (the next in submission order) and map it. */
int
store_run_id(struct txn *t, struct run *r)
{
	uint8_t	k[8];
	int	rc;

	if ((rc = store_counter_add(t, "run_id", 1, &r->id)) != 0)
		return rc;
	be64_put(k, r->id);
	return store_put(t, DB_RUN_IDS, r->uuid, strlen(r->uuid), k, 8);
}

/* Store r, which has its id (store_run_id() or store_get_run()). */
int
store_put_run(struct txn *t, const struct run *in)
{
	struct buf	b = { 0 };
	uint8_t		k[8];
	int		rc;

	if (in->id == 0) {
		log_warnx("storage: run %s has no id", in->uuid);
		return EINVAL;
	}
	wire_encode_run_record(&b, in);
	be64_put(k, in->id);
	rc = store_put(t, DB_RUNS, k, 8, b.p, b.len);
	buf_free(&b);
	return rc;
}

/*
 * Remove r's record and its uuid, give back its snapshot and its place in
 * its workspace's count (not its events or indexes).
 */
int
store_del_run(struct txn *t, const struct run *r)
{
	uint8_t	k[8];
	int	rc;

	be64_put(k, r->id);
	if ((rc = store_del(t, DB_RUNS, k, 8)) != 0 ||
	    (r->has_config_ref && (rc = config_unref(t, r->config_ref)) != 0) ||
	    (rc = store_ws_count(t, "runs", r->ws, -1, NULL)) != 0)
		return rc;
	return store_del(t, DB_RUN_IDS, r->uuid, strlen(r->uuid));
}

/* ------------------------------------------------------------ configs */

static const uint32_t	sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

/* One 64-byte block into the SHA-256 state h. */
static void
sha256_block(uint32_t *h, const uint8_t *p)
{
	uint32_t	w[64], a, b, c, d, e, f, g, x, t1, t2;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
		    (w[i - 15] >> 3)) + w[i - 7] + (ROR(w[i - 2], 17) ^
		    ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; x = h[7];
	for (i = 0; i < 64; i++) {
		t1 = x + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & c) ^ (b & c));
		x = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += x;
}

/* SHA-256 (FIPS 180-4) of p[0..n) into out[32]. */
static void
sha256(const void *data, size_t n, uint8_t *out)
{
	uint32_t	 h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const uint8_t	*p = data;
	uint8_t		 last[128];
	size_t		 i, rest;

	for (i = 0; i + 64 <= n; i += 64)
		sha256_block(h, p + i);
	rest = n - i;
	memset(last, 0, sizeof last);
	if (rest > 0)
		memcpy(last, p + i, rest);
	last[rest] = 0x80;
	rest = rest < 56 ? 64 : 128;
	be64_put(last + rest - 8, (uint64_t)n * 8);
	sha256_block(h, last);
	if (rest == 128)
		sha256_block(h, last + 64);
	for (i = 0; i < 8; i++) {
		out[4 * i] = h[i] >> 24;
		out[4 * i + 1] = h[i] >> 16;
		out[4 * i + 2] = h[i] >> 8;
		out[4 * i + 3] = h[i];
	}
}

#define REF_HASH	16		/* bytes of the SHA-256 in a ref */
#define REF_PROBES	64		/* snapshots whose hashes begin alike */

/*
 * Hold a reference to the snapshot of c for a new run: the stored one with
 * the same bytes, or a new one; its key into ref[CONFIG_REF_LEN]. 0 or an
 * LMDB error.
 */
int
store_config_ref(struct txn *t, const struct jobconfig *c, uint8_t *ref)
{
	struct buf	 enc = { 0 };
	uint8_t		 h[32], cnt[8];
	MDB_val		 v;
	uint64_t	 n = 0;
	uint32_t	 i;
	int		 rc = 0;

	wire_encode_jobconfig(&enc, c);
	sha256(enc.p, enc.len, h);
	memcpy(ref, h, REF_HASH);
	for (i = 0; i < REF_PROBES; i++) {
		ref[REF_HASH] = i >> 24;
		ref[REF_HASH + 1] = i >> 16;
		ref[REF_HASH + 2] = i >> 8;
		ref[REF_HASH + 3] = i;
		rc = store_get(t, DB_CONFIGS, ref, CONFIG_REF_LEN, &v);
		if (rc == MDB_NOTFOUND) {	/* a new snapshot */
			rc = store_put(t, DB_CONFIGS, ref, CONFIG_REF_LEN,
			    enc.p, enc.len);
			break;
		}
		if (rc != 0)
			break;
		if (v.mv_size == enc.len && memcmp(v.mv_data, enc.p,
		    enc.len) == 0) {
			if ((rc = store_get(t, DB_CONFIG_REFS, ref,
			    CONFIG_REF_LEN, &v)) == 0 && v.mv_size == 8)
				n = be64_get(v.mv_data);
			else if (rc != MDB_NOTFOUND)
				rc = rc == 0 ? EIO : rc;
			else
				rc = 0;
			break;
		}
	}
	if (i == REF_PROBES) {
		log_warnx("storage: %d configuration snapshots share a hash",
		    REF_PROBES);
		rc = EIO;
	}
	if (rc == 0) {
		be64_put(cnt, n + 1);
		rc = store_put(t, DB_CONFIG_REFS, ref, CONFIG_REF_LEN, cnt,
		    sizeof cnt);
	}
	buf_free(&enc);
	return rc;
}

/* A run that held the snapshot ref is gone: one reference less; the last
 * deletes it. 0 or an LMDB error. */
static int
config_unref(struct txn *t, const uint8_t *ref)
{
	MDB_val		v;
	uint64_t	n;
	uint8_t		cnt[8];
	int		rc;

	if ((rc = store_get(t, DB_CONFIG_REFS, ref, CONFIG_REF_LEN, &v)) ==
	    MDB_NOTFOUND) {
		log_warnx("storage: a configuration snapshot without references"
		    " was given back");
		return store_del(t, DB_CONFIGS, ref, CONFIG_REF_LEN);
	}
	if (rc != 0)
		return rc;
	n = v.mv_size == 8 ? be64_get(v.mv_data) : 0;
	if (n <= 1) {
		if ((rc = store_del(t, DB_CONFIG_REFS, ref, CONFIG_REF_LEN)) != 0)
			return rc;
		return store_del(t, DB_CONFIGS, ref, CONFIG_REF_LEN);
	}
	be64_put(cnt, n - 1);
	return store_put(t, DB_CONFIG_REFS, ref, CONFIG_REF_LEN, cnt,
	    sizeof cnt);
}

/*
 * The configuration run r executes, into r->config: its snapshot, args
 * replaced by the run's own and the run's env over it, as run_submit()
 * made it. A run without a snapshot has it in its record. 0 or EIO.
 */
static int
run_config(struct txn *t, struct run *r)
{
	MDB_val	v;
	size_t	i;
	int	rc;

	if (!r->has_config_ref)
		return 0;
	jobconfig_free(&r->config);
	if ((rc = store_get(t, DB_CONFIGS, r->config_ref, CONFIG_REF_LEN,
	    &v)) != 0 || wire_decode_jobconfig(v.mv_data, v.mv_size,
	    &r->config) == -1) {
		log_warnx("storage: run %s: configuration snapshot: %s",
		    r->uuid, rc != 0 ? mdb_strerror(rc) : "does not decode");
		run_free(r);
		return EIO;
	}
	if (r->has_args) {
		free(r->config.args);
		r->config.args = r->args != NULL && *r->args != '\0' ?
		    xstrdup(r->args) : NULL;
	}
	for (i = 0; i < r->env.n; i++)
		kvlist_set(&r->config.env, r->env.v[i].key, r->env.v[i].value);
	return 0;
}

/*
 * Workspace ws's count of kind ("runs", "jobdefs") changed by delta (0:
 * read it); the new value into *out if not NULL. 0 or an LMDB error.
 */
int
store_ws_count(struct txn *t, const char *kind, const char *ws, int64_t delta,
    uint64_t *out)
{
	MDB_val		 v;
	char		*key;
	int		 rc = 0;

	xasprintf(&key, "ws_%s/%s", kind, ws);
	if (delta != 0)
		rc = store_counter_add(t, key, delta, out);
	else if (out != NULL) {
		*out = 0;
		if ((rc = store_get(t, DB_META, key, strlen(key), &v)) == 0 &&
		    v.mv_size == sizeof *out)
			memcpy(out, v.mv_data, sizeof *out);
		else if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	free(key);
	return rc;
}

/*
 * Page through a name index ("{ws}/{name}" -> uuid) in name order, after
 * the name `after` (NULL: from the start). Fills up to limit uuids (owned
 * by the caller) and, when more follow, *next with the last name returned.
 */
int
store_scan_names(struct txn *t, int db, const char *ws, const char *after,
    size_t limit, char ***uuids, size_t *n, char **next)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct buf	 key = { 0 };
	size_t		 plen;
	int		 rc;

	*uuids = xcalloc(limit, sizeof **uuids);
	*n = 0;
	*next = NULL;
	store_name_key(&key, ws, after == NULL ? "" : after);
	plen = strlen(ws) + 1;
	if ((rc = mdb_cursor_open(t->mdb, store_dbi(db), &c)) != 0) {
		buf_free(&key);
		return rc;
	}
	k.mv_data = key.p;
	k.mv_size = key.len;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && after != NULL && k.mv_size == key.len &&
	    memcmp(k.mv_data, key.p, key.len) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, key.p, plen) != 0)
			break;
		if (*n == limit) {
			*next = xstrndup((char *)key.p + plen, key.len - plen);
			break;
		}
		(*uuids)[(*n)++] = xstrndup(v.mv_data, v.mv_size);
		key.len = 0;
		buf_add(&key, k.mv_data, k.mv_size);
	}
	mdb_cursor_close(c);
	buf_free(&key);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

/* ------------------------------------------------------------ reads */

/* Entries in database db (store_reader()); 0 if it cannot be read. */
size_t
store_entries(int db)
{
	MDB_stat	 st;
	MDB_txn		*t;

	if ((t = store_reader()) == NULL ||
	    mdb_stat(t, store_dbi(db), &st) != 0)
		return 0;
	return st.ms_entries;
}

/* Call fn for every cluster (store_reader()). 0 or an error. */
int
store_each_cluster(void (*fn)(const struct cluster *, void *), void *arg)
{
	struct cluster	 c;
	MDB_txn		*t;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	int		 rc;

	if ((t = store_reader()) == NULL)
		return EIO;
	if ((rc = mdb_cursor_open(t, store_dbi(DB_CLUSTERS), &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		memset(&c, 0, sizeof c);
		if (wire_decode_cluster(v.mv_data, v.mv_size, &c) == 0) {
			fn(&c, arg);
			cluster_free(&c);
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
