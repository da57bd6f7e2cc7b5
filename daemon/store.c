/*
 * store.c: LMDB storage and the group commit.
 *
 * Every state change is an op (batchd.h). store_submit() queues an op and
 * activates the flush event, which has the lowest priority of the loop: it
 * runs once per loop turn, after every message and timer of that turn has
 * queued its op. The flush applies all queued ops, undoing the writes of
 * one that fails (from the old values each write records first: a failing
 * op leaves no partial writes), makes the turn durable (one synced write
 * for the whole turn) and only then runs the effects the ops deferred:
 * replies, events, spawns. Nothing outside LMDB changes before that.
 *
 * Durable is the redo log's (redo.c): ops write into one LMDB write
 * transaction that stays open between checkpoints ("live"); every put and
 * delete is also recorded, and the turn's records are one
 * frame appended to the log and synced. A checkpoint (CKPT_BYTES of log,
 * or CKPT_MS after live began, or shutdown) commits live, LMDB's own
 * synced commit, and the log starts over. LMDB on disk is always a
 * checkpoint; start-up applies the log's frames on top of it. A B-tree
 * page a thousand turns dirty is written once per checkpoint, not once
 * per turn. Reads between turns (store_reader()) see live. A turn whose
 * log write fails, or an op that leaves live unusable (an LMDB error),
 * drops live: the next turn applies the log to a new one.
 *
 * MDB_MAP_FULL: the ops before the one that hit it are made durable, live
 * is dropped, the map is doubled (up to 64 times the configured size) and
 * the rest are applied again on the next turn, on a live rebuilt. Past
 * the limit, or on any other write error (ENOSPC, EIO), the ops fail:
 * their fail() answers UNAVAILABLE or retries. A checkpoint that fails
 * loses live, not what the log holds: the next turn replays the log into
 * a new one. A redo frame whose write failed may be on disk all the same:
 * before its ops are answered, a checkpoint without it ends its
 * generation; if that fails too, batchd exits unanswered (turn_commit()).
 *
 * Layout (named databases; values are protobuf records, see wire.c):
 *   meta          "schema_version" -> "3"
 *   jobdefs       uuid -> JobDefinition
 *   jobdef_names  "{ws}/{name}" -> uuid
 *   clusters      uuid -> Cluster
 *   cluster_names "{ws}/{name}" -> uuid
 *   run_ids       run uuid -> run id (8 bytes, big-endian)
 *   runs_by_id    run id -> JobRun
 *   queue         cluster uuid | seq (8 bytes, big-endian) -> run uuid
 *   idem          "{ws}/{key}" -> run uuid
 *   runidx        index keys (run.c), empty values
 *   meta          also "log_bytes": output bytes of finished attempts,
 *                 "run_id": the last run id given, "redo_gen": the
 *                 generation of the redo log's frames not yet in LMDB
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
 *   meta          also "ws_runs/{ws}", "ws_jobdefs/{ws}": the runs (live
 *                 and finished) and definitions a workspace holds, for its
 *                 quotas (store_ws_count())
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
 * Bumping the schema: change a record's meaning only with a new version and
 * a migration in store_open() that rewrites the old records before any
 * other code runs.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

#define SCHEMA_VERSION	"3"
#define MAP_GROWTH_MAX	64
#define CKPT_BYTES	(8u << 20)	/* of redo log */
#define CKPT_MS		1000
#define BUF_KEEP	(1u << 20)	/* larger turn buffers are given back */

struct effect {
	effect_cb		 fn;
	void			*arg;
	void			(*free)(void *);
	int			 late;		/* txn_defer_late() */
	STAILQ_ENTRY(effect)	 entry;
};
STAILQ_HEAD(effects, effect);

struct txn {
	MDB_txn		*mdb;
	struct effects	 effects;
	struct ops	 then;		/* txn_then() */
};

static const char *db_names[DB__COUNT] = {
	"meta", "jobdefs", "jobdef_names", "clusters", "cluster_names",
	"runs_by_id", "queue", "idem", "runidx", "events_by_id", "outbox",
	"run_ids", "configs", "config_refs"
};

static MDB_env		*env;
static MDB_dbi		 dbis[DB__COUNT];
static struct ops	 pending = TAILQ_HEAD_INITIALIZER(pending);
static struct ops	 lazy = TAILQ_HEAD_INITIALIZER(lazy);
static struct event	*flush_ev, *lazy_ev, *ckpt_ev, *late_ev;
static struct effects	 late_q = STAILQ_HEAD_INITIALIZER(late_q);
static size_t		 map_size, map_max;
static MDB_txn		*live;		/* open between checkpoints */
static uint64_t		 gen;		/* the redo log's, meta "redo_gen" */
static uint64_t		 turns;		/* that wrote something */
static int		 in_turn;	/* store_flush() is applying ops */
static int		 migrating;	/* writes bypass the redo log */
static struct buf	 undo;		/* of the op being applied */
static uint8_t		*map_addr;	/* of data.mdb, NULL: not known yet */

/* Replaced by tests: how a checkpoint commits. */
int			(*store_txn_commit)(MDB_txn *) = mdb_txn_commit;

static void	store_flush(evutil_socket_t, short, void *);
static void	ops_free(struct ops *);
static void	late_run(evutil_socket_t, short, void *);
static void	effects_drop(struct effects *, int);
static int	migrate_1(MDB_txn *);
static int	migrate_2(MDB_txn *);
static void	config_env_drop(struct kvlist *, const char *);
static int	migrate_snapshot(struct txn *, struct run *, struct jobdef *,
		    struct buf *);
static int	config_unref(struct txn *, const uint8_t *);
static int	run_config(struct txn *, struct run *);
static void	lazy_fire(evutil_socket_t, short, void *);
static void	ckpt_fire(evutil_socket_t, short, void *);
static int	live_begin(void);
static int	checkpoint(void);
static void	grow_map(void);
static void	map_trim(void);

#define LAZY_MS		100	/* the longest a lazy op waits for a ride */

/* Open (creating) the environment under dir; 0, or -1 with *cause. */
int
store_open(const char *dir, size_t mapsize, char **cause)
{
	MDB_txn	*t;
	MDB_val	 k, v;
	char	*path;
	int	 rc, i, old2 = 0;

	xasprintf(&path, "%s/lmdb", dir);
	if (mkdir_p(path, 0700) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	map_size = mapsize;
	map_max = mapsize * MAP_GROWTH_MAX;
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, DB__COUNT + 2)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, mapsize)) != 0 ||
	    (rc = mdb_env_open(env, path, 0, 0600)) != 0) {
		xasprintf(cause, "%s: %s", path, mdb_strerror(rc));
		free(path);
		if (env != NULL)
			mdb_env_close(env);
		env = NULL;
		return -1;
	}
	free(path);
	/* A map larger than configured (grown earlier) is kept. */
	{
		MDB_envinfo	info;

		mdb_env_info(env, &info);
		if (info.me_mapsize > map_size)
			map_size = info.me_mapsize;
	}
	/* Its lock first: the only writer of this environment. */
	xasprintf(&path, "%s/lmdb/redo", dir);
	rc = redo_open(path, cause);
	free(path);
	if (rc == -1)
		goto fail_cause;
	if ((rc = mdb_txn_begin(env, NULL, 0, &t)) != 0)
		goto fail;
	for (i = 0; i < DB__COUNT; i++)
		if ((rc = mdb_dbi_open(t, db_names[i], MDB_CREATE,
		    &dbis[i])) != 0) {
			mdb_txn_abort(t);
			goto fail;
		}
	k.mv_data = "schema_version";
	k.mv_size = strlen(k.mv_data);
	rc = mdb_get(t, dbis[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_data = SCHEMA_VERSION;
		v.mv_size = strlen(SCHEMA_VERSION);
		rc = mdb_put(t, dbis[DB_META], &k, &v, 0);
	} else if (rc == 0 && v.mv_size == 1 &&
	    memcmp(v.mv_data, "1", 1) == 0) {
		if ((rc = migrate_1(t)) == 0) {
			v.mv_data = "2";
			v.mv_size = 1;
			rc = mdb_put(t, dbis[DB_META], &k, &v, 0);
			old2 = 1;
		}
	} else if (rc == 0 && v.mv_size == 1 &&
	    memcmp(v.mv_data, "2", 1) == 0) {
		old2 = 1;	/* once the redo log (of schema 2) is in */
	} else if (rc == 0 && (v.mv_size != strlen(SCHEMA_VERSION) ||
	    memcmp(v.mv_data, SCHEMA_VERSION, v.mv_size) != 0)) {
		xasprintf(cause, "storage schema version '%.*s' is not the "
		    "supported '%s'", (int)v.mv_size, (char *)v.mv_data,
		    SCHEMA_VERSION);
		mdb_txn_abort(t);
		goto fail_cause;
	}
	if (rc != 0) {
		mdb_txn_abort(t);
		goto fail;
	}
	k.mv_data = "redo_gen";
	k.mv_size = strlen(k.mv_data);
	gen = 0;
	if (mdb_get(t, dbis[DB_META], &k, &v) == 0 && v.mv_size == 8)
		gen = be64_get(v.mv_data);
	if ((rc = mdb_txn_commit(t)) != 0)
		goto fail;
	ckpt_ev = evtimer_new(base, ckpt_fire, NULL);
	/* What was acknowledged since the last checkpoint, into LMDB (if
	 * the disk takes it now; the log keeps it either way). */
	if ((rc = live_begin()) != 0) {
		store_close();
		xasprintf(cause, "storage: applying the redo log: %s",
		    mdb_strerror(rc));
		return -1;
	}
	if (old2) {
		/* The log's frames are records of schema 2: in LMDB first. */
		if ((rc = checkpoint()) != 0 ||
		    (rc = mdb_txn_begin(env, NULL, 0, &t)) != 0)
			goto fail_open;
		k.mv_data = "schema_version";
		k.mv_size = strlen(k.mv_data);
		v.mv_data = SCHEMA_VERSION;
		v.mv_size = strlen(SCHEMA_VERSION);
		if ((rc = migrate_2(t)) != 0 ||
		    (rc = mdb_put(t, dbis[DB_META], &k, &v, 0)) != 0) {
			mdb_txn_abort(t);
			goto fail_open;
		}
		if ((rc = mdb_txn_commit(t)) != 0)
			goto fail_open;
	} else
		checkpoint();
	flush_ev = event_new(base, -1, 0, store_flush, NULL);
	event_priority_set(flush_ev, 2);
	late_ev = event_new(base, -1, 0, late_run, NULL);
	event_priority_set(late_ev, 1);
	lazy_ev = evtimer_new(base, lazy_fire, NULL);
	log_info("storage open dir=%s map_size=%zu", dir, map_size);
	return 0;
fail_open:
	store_close();
	xasprintf(cause, "storage: migrating schema 2 to %s: %s",
	    SCHEMA_VERSION, mdb_strerror(rc));
	return -1;
fail:
	xasprintf(cause, "storage: %s", mdb_strerror(rc));
fail_cause:
	redo_close();
	mdb_env_close(env);
	env = NULL;
	return -1;
}

/* ------------------------------------------------------------ live */

static int
replay_one(int type, int db, MDB_val *k, MDB_val *v, void *arg)
{
	int	rc;

	(void)arg;
	if (type == 'P')
		return mdb_put(live, dbis[db], k, v, 0);
	rc = mdb_del(live, dbis[db], k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Open live if it is not: a write transaction on the last checkpoint with
 * the redo log's frames applied (none but after a failed checkpoint or a
 * crash). 0 or an LMDB error.
 */
static int
live_begin(void)
{
	static const struct timeval	tv = { CKPT_MS / 1000,
					    CKPT_MS % 1000 * 1000 };
	size_t				n;
	int				rc;

	while (live == NULL) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &live)) != 0) {
			live = NULL;
			return rc;
		}
		if ((rc = redo_replay(gen, replay_one, NULL, &n)) == 0) {
			if (n > 0)
				log_info("storage: %zu turns from the redo log "
				    "applied", n);
			break;
		}
		mdb_txn_abort(live);
		live = NULL;
		if (rc != MDB_MAP_FULL || map_size >= map_max)
			return rc;
		grow_map();
	}
	if (ckpt_ev != NULL && !evtimer_pending(ckpt_ev, NULL))
		evtimer_add(ckpt_ev, &tv);
	return 0;
}

/*
 * Commit live, with the next generation if the log has frames (or a frame
 * failed to be written): LMDB now holds them and the log starts over. live
 * is closed either way; on failure the log still has everything. 0 or an
 * LMDB error.
 */
static int
checkpoint(void)
{
	MDB_val		k = { 8, "redo_gen" }, v;
	uint8_t		g[8];
	uint64_t	next = gen + (redo_bytes() > 0 || redo_broken());
	int		rc;

	if (live == NULL)
		return 0;
	if (ckpt_ev != NULL)
		evtimer_del(ckpt_ev);
	be64_put(g, next);
	v.mv_data = g;
	v.mv_size = sizeof g;
	if (next != gen && (rc = mdb_put(live, dbis[DB_META], &k, &v, 0)) != 0)
		mdb_txn_abort(live);
	else
		rc = store_txn_commit(live);
	live = NULL;
	if (rc != 0) {
		log_warnx("storage: checkpoint: %s", mdb_strerror(rc));
		if (rc == MDB_MAP_FULL && map_size < map_max)
			grow_map();	/* no transaction now */
		return rc;
	}
	if (next != gen)
		redo_reset(next);
	gen = next;
	map_trim();
	return 0;
}

/* Where LMDB mapped data.mdb (it tells only with MDB_FIXEDMAP): the
 * mapping of the file's inode in /proc/self/maps; NULL if none is. */
static uint8_t *
map_find(void)
{
	struct stat	 st;
	unsigned long	 lo, hi, ino;
	unsigned	 maj, min;
	uint8_t		*at = NULL;
	char		 line[512];
	FILE		*f;
	int		 fd;

	if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) == -1 ||
	    (f = fopen("/proc/self/maps", "re")) == NULL)
		return NULL;
	while (at == NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &maj,
		    &min, &ino) == 5 && ino == st.st_ino &&
		    makedev(maj, min) == st.st_dev)
			at = (uint8_t *)lo;
	fclose(f);
	return at;
}

/*
 * Drop this process's mappings of data.mdb's pages (not the pages: the
 * kernel's page cache keeps them). A checkpoint wrote every page it
 * changed at a new place in the file, and each read of one after it maps
 * it and, by the kernel's fault-around, its 15 neighbours; left alone the
 * mappings would pile up, checkpoint after checkpoint, over every place
 * the hot pages ever were, and the RSS with them (130 MiB of the 2 GB
 * file after a few seconds of submissions). What is still read comes
 * back by a minor fault.
 */
static void
map_trim(void)
{
	MDB_envinfo	info;
	MDB_stat	st;
	size_t		len;

	if (map_addr == NULL && (map_addr = map_find()) == NULL)
		return;
	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0)
		return;
	len = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	if (len > info.me_mapsize)
		len = info.me_mapsize;
	if (madvise(map_addr, len, MADV_DONTNEED) == -1)
		log_warn("storage: unmapping read pages");
}

static void
ckpt_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	checkpoint();
}

/* How many turns wrote something (tests: has a turn changed anything?). */
uint64_t
store_turns(void)
{
	return turns;
}

/*
 * The transaction reads between turns use (outbox, metrics): live, which
 * has every turn applied. NULL if it cannot be opened. Never to be
 * committed or aborted, nor kept past the loop turn.
 */
MDB_txn *
store_reader(void)
{
	if (in_turn) {
		log_warnx("storage: a read outside an op while ops apply");
		return NULL;
	}
	return live_begin() == 0 ? live : NULL;
}

void
store_close(void)
{
	struct op	*op;

	TAILQ_CONCAT(&pending, &lazy, entry);
	while ((op = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, op, entry);
		op->free(op);
	}
	checkpoint();
	redo_close();
	buf_free(&undo);
	if (flush_ev != NULL)
		event_free(flush_ev);
	if (lazy_ev != NULL)
		event_free(lazy_ev);
	if (late_ev != NULL)
		event_free(late_ev);
	late_ev = NULL;
	effects_drop(&late_q, 0);	/* store_flush_now() ran them */
	if (ckpt_ev != NULL)
		event_free(ckpt_ev);
	flush_ev = lazy_ev = ckpt_ev = NULL;
	map_addr = NULL;
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
}

size_t
store_map_size(void)
{
	return map_size;
}

/* Bytes of the map in use and its size. */
void
store_usage(size_t *used, size_t *size)
{
	MDB_envinfo	info;
	MDB_stat	st;

	mdb_env_info(env, &info);
	mdb_env_stat(env, &st);
	*used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	*size = info.me_mapsize;
}

/* Entries in database db (store_reader()); 0 if it cannot be read. */
size_t
store_entries(int db)
{
	MDB_stat	 st;
	MDB_txn		*t;

	if ((t = store_reader()) == NULL ||
	    mdb_stat(t, dbis[db], &st) != 0)
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
	if ((rc = mdb_cursor_open(t, dbis[DB_CLUSTERS], &cur)) != 0)
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

/* Queue an op for this loop turn's transaction. */
void
store_submit(struct op *op)
{
	TAILQ_INSERT_TAIL(&pending, op, entry);
	if (flush_ev != NULL)
		event_active(flush_ev, 0, 0);
}

/*
 * Queue an op whose effect is not urgent (deleting delivered outbox
 * entries): it rides on the next commit, or gets one of its own LAZY_MS
 * later, so it never costs a request an fsync of its own.
 */
void
store_submit_lazy(struct op *op)
{
	static const struct timeval	tv = { 0, LAZY_MS * 1000 };

	TAILQ_INSERT_TAIL(&lazy, op, entry);
	if (lazy_ev != NULL && !evtimer_pending(lazy_ev, NULL))
		evtimer_add(lazy_ev, &tv);
}

static void
lazy_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (TAILQ_EMPTY(&lazy))
		return;
	TAILQ_CONCAT(&pending, &lazy, entry);
	event_active(flush_ev, 0, 0);
}

/* Apply the pending and lazy ops now, effects and all (tests and
 * shutdown). */
void
store_flush_now(void)
{
	TAILQ_CONCAT(&pending, &lazy, entry);
	late_run(-1, 0, NULL);
	while (!TAILQ_EMPTY(&pending)) {
		store_flush(-1, 0, NULL);
		late_run(-1, 0, NULL);
	}
}

/*
 * Apply op after the op that is applying t, in the same turn and
 * transaction, if that op's writes stand; its own failure undoes only its
 * own writes. It goes to the end of the turn's ops.
 */
void
txn_then(struct txn *t, struct op *op)
{
	TAILQ_INSERT_TAIL(&t->then, op, entry);
}

/* Free ops never applied: the op that queued them was undone. */
static void
ops_free(struct ops *l)
{
	struct op	*op;

	while ((op = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, op, entry);
		op->free(op);
	}
}

static void
defer(struct txn *t, effect_cb fn, void *arg, void (*freefn)(void *),
    int late)
{
	struct effect	*e;

	e = xcalloc(1, sizeof *e);
	e->fn = fn;
	e->arg = arg;
	e->free = freefn;
	e->late = late;
	STAILQ_INSERT_TAIL(&t->effects, e, entry);
}

/* Defer fn(arg) until t and its parents commit; free(arg) runs after fn, or
 * alone if the transaction is abandoned. */
void
txn_defer(struct txn *t, effect_cb fn, void *arg, void (*freefn)(void *))
{
	defer(t, fn, arg, freefn, 0);
}

/*
 * The same for work that takes its time (starting or signalling a
 * process): it runs after every other effect of the turn, so the turn's
 * replies and events do not wait for the attempts it starts. The late
 * effects keep their own order: a kill deferred after a start follows it.
 */
void
txn_defer_late(struct txn *t, effect_cb fn, void *arg,
    void (*freefn)(void *))
{
	defer(t, fn, arg, freefn, 1);
}

static void
effect_end(struct effect *e, int run)
{
	if (run && e->fn != NULL)
		e->fn(e->arg);
	if (e->free != NULL)
		e->free(e->arg);
	free(e);
}

/*
 * Run (run != 0) or abandon l's effects, the late ones last: from late_ev,
 * which has the socket's write event's priority and is activated after
 * it, so what the turn published (its replies, its events) is on the wire
 * before its spawns, and both happen before the next turn's flush (at a
 * lower priority).
 */
static void
effects_drop(struct effects *l, int run)
{
	struct effect	*e;

	while ((e = STAILQ_FIRST(l)) != NULL) {
		STAILQ_REMOVE_HEAD(l, entry);
		if (run && e->late)
			STAILQ_INSERT_TAIL(&late_q, e, entry);
		else
			effect_end(e, run);
	}
	if (!STAILQ_EMPTY(&late_q)) {
		if (late_ev != NULL)
			event_active(late_ev, 0, 0);
		else
			late_run(-1, 0, NULL);
	}
}

/* The late effects of the turns flushed, in order. */
static void
late_run(evutil_socket_t fd, short what, void *arg)
{
	struct effect	*e;

	(void)fd;
	(void)what;
	(void)arg;
	while ((e = STAILQ_FIRST(&late_q)) != NULL) {
		STAILQ_REMOVE_HEAD(&late_q, entry);
		effect_end(e, 1);
	}
}

static void
grow_map(void)
{
	size_t	want = map_size * 2;
	int	rc;

	if (want > map_max)
		want = map_max;
	if ((rc = mdb_env_set_mapsize(env, want)) != 0) {
		log_warnx("storage: growing the map to %zu: %s", want,
		    mdb_strerror(rc));
		return;
	}
	log_info("storage map grown from=%zu to=%zu", map_size, want);
	map_size = want;
	map_addr = NULL;	/* mapped again, maybe elsewhere */
}

struct done {
	struct op	*op;
	int		 rc;
};

/*
 * The undo records of the op being applied: each write first records the
 * value it replaces (or that there was none). A failed op's writes are put
 * back from them, newest first. Ops write straight into live: a nested
 * transaction per op would cost a merge of its dirty pages into live's,
 * which grows with everything since the checkpoint.
 */
static void
undo_record(int db, const MDB_val *k, const MDB_val *old)
{
	uint8_t	h[2];

	h[0] = (uint8_t)db;
	h[1] = old != NULL;
	buf_add(&undo, &k->mv_size, sizeof k->mv_size);
	buf_add(&undo, h, sizeof h);
	buf_add(&undo, k->mv_data, k->mv_size);
	if (old != NULL) {
		buf_add(&undo, &old->mv_size, sizeof old->mv_size);
		buf_add(&undo, old->mv_data, old->mv_size);
	}
}

/*
 * Put back what the op wrote (its undo records, each: key size, db,
 * had-an-old-value flag, key, [old size, old value]), newest first.
 * 0, or an LMDB error: live is not to be trusted.
 */
static int
undo_apply(void)
{
	size_t	*off = NULL, n = 0, cap = 0, i, at;
	MDB_val	 k, v;
	int	 rc = 0, db, had;

	for (at = 0; at < undo.len;) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			off = xreallocarray(off, cap, sizeof *off);
		}
		off[n++] = at;
		memcpy(&k.mv_size, undo.p + at, sizeof k.mv_size);
		at += sizeof k.mv_size + 2 + k.mv_size;
		if (undo.p[at - k.mv_size - 1]) {
			memcpy(&v.mv_size, undo.p + at, sizeof v.mv_size);
			at += sizeof v.mv_size + v.mv_size;
		}
	}
	for (i = n; i > 0 && rc == 0; i--) {
		at = off[i - 1];
		memcpy(&k.mv_size, undo.p + at, sizeof k.mv_size);
		db = undo.p[at + sizeof k.mv_size];
		had = undo.p[at + sizeof k.mv_size + 1];
		k.mv_data = undo.p + at + sizeof k.mv_size + 2;
		if (had) {
			at += sizeof k.mv_size + 2 + k.mv_size;
			memcpy(&v.mv_size, undo.p + at, sizeof v.mv_size);
			v.mv_data = undo.p + at + sizeof v.mv_size;
			rc = mdb_put(live, dbis[db], &k, &v, 0);
		} else if ((rc = mdb_del(live, dbis[db], &k, NULL)) ==
		    MDB_NOTFOUND)
			rc = 0;
	}
	free(off);
	undo.len = 0;
	return rc;
}

/* Throw live away: the log has everything acknowledged; the next turn
 * applies it to a new one. */
static void
live_drop(void)
{
	if (live != NULL)
		mdb_txn_abort(live);
	live = NULL;
}

/*
 * Make the turn's writes (its frame in the redo log) durable. 0, or an
 * error: the writes are gone (live is dropped, and the log without them
 * checkpointed).
 */
static int
turn_commit(void)
{
	unsigned int	flags = 0;
	int		rc, rc2 = 0, tries;

	if (redo_empty())		/* reads only: nothing to wait for */
		return 0;
	turns++;
	mdb_env_get_flags(env, &flags);
	rc = redo_write(!(flags & MDB_NOSYNC));
	if (rc == ENOSPC)	/* no room in the log: LMDB's own commit */
		return checkpoint();
	if (rc != 0) {
		/*
		 * The frame may be on disk all the same, and a crash would
		 * apply it: before its ops are answered as failed, its
		 * generation ends (a checkpoint of the log without it). If
		 * even that fails, what is on disk is unknown: stop, answer
		 * nothing, and let the next start read it.
		 */
		live_drop();
		for (tries = 0; tries < 2; tries++)	/* once more: MAP_FULL */
			if ((rc2 = live_begin()) == 0 &&
			    (rc2 = checkpoint()) == 0)
				break;
		if (rc2 != 0)
			fatalx("storage: a redo log frame failed to be written "
			    "(%s) and no checkpoint could replace it (%s)",
			    strerror(rc), mdb_strerror(rc2));
	}
	return rc;
}

/* The flush event: apply every pending op in one transaction. */
static void
store_flush(evutil_socket_t fd, short what, void *arg)
{
	struct ops	 batch = TAILQ_HEAD_INITIALIZER(batch);
	struct effects	 effects = STAILQ_HEAD_INITIALIZER(effects);
	struct txn	 t;
	struct done	*done = NULL;
	struct op	*op;
	MDB_val		 k = { 14, "schema_version" }, v;
	size_t		 n = 0, cap = 0, i, mark;
	int		 rc, grow = 0, broken = 0;

	(void)fd;
	(void)what;
	(void)arg;
	if (TAILQ_EMPTY(&pending))
		return;
	TAILQ_CONCAT(&pending, &lazy, entry);	/* they ride along */
	TAILQ_CONCAT(&batch, &pending, entry);
	if ((rc = live_begin()) != 0) {
		log_warnx("storage: begin: %s", mdb_strerror(rc));
		while ((op = TAILQ_FIRST(&batch)) != NULL) {
			TAILQ_REMOVE(&batch, op, entry);
			op->fail(op, rc);
		}
		return;
	}
	redo_begin();
	in_turn = 1;
	t.mdb = live;
	while ((op = TAILQ_FIRST(&batch)) != NULL) {
		STAILQ_INIT(&t.effects);
		TAILQ_INIT(&t.then);
		mark = redo_mark();
		undo.len = 0;
		if ((rc = op->apply(op, &t)) != 0) {
			redo_rewind(mark);
			/* Undone, and live still takes reads (an LMDB error
			 * such as MAP_FULL leaves the transaction unusable)? */
			if (undo_apply() != 0 ||
			    mdb_get(live, dbis[DB_META], &k, &v) != 0)
				broken = 1;
		}
		if (rc == MDB_MAP_FULL && map_size < map_max) {
			effects_drop(&t.effects, 0);
			ops_free(&t.then);
			grow = 1;
			break;	/* this op and the rest go back to pending */
		}
		TAILQ_REMOVE(&batch, op, entry);
		if (rc == 0) {
			STAILQ_CONCAT(&effects, &t.effects);
			TAILQ_CONCAT(&batch, &t.then, entry);
		} else {
			effects_drop(&t.effects, 0);
			ops_free(&t.then);
		}
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			done = xreallocarray(done, cap, sizeof *done);
		}
		done[n].op = op;
		done[n].rc = rc;
		n++;
		if (broken)
			break;	/* the rest wait for a live rebuilt */
	}
	in_turn = 0;
	/* Ops not applied wait for the next turn, ahead of newer ones. */
	TAILQ_CONCAT(&batch, &pending, entry);
	TAILQ_CONCAT(&pending, &batch, entry);

	rc = broken && redo_empty() ? 0 : turn_commit();
	/* Before the effects, which may read: the next reader or turn
	 * replays the log into a new live. */
	if (broken || grow)
		live_drop();
	if (grow)
		grow_map();	/* only with no transaction */
	if (rc != 0) {
		log_warnx("storage: commit of %zu ops failed: %s", n,
		    mdb_strerror(rc));
		effects_drop(&effects, 0);
		for (i = 0; i < n; i++)
			if (done[i].rc == 0)
				done[i].rc = rc;
	} else
		effects_drop(&effects, 1);
	for (i = 0; i < n; i++) {
		if (done[i].rc == 0)
			done[i].op->free(done[i].op);
		else
			done[i].op->fail(done[i].op, done[i].rc);
	}
	free(done);
	buf_reset(&undo, BUF_KEEP);	/* after a big op (a retention sweep) */
	if (redo_bytes() >= CKPT_BYTES)
		checkpoint();
	if (!TAILQ_EMPTY(&pending))
		event_active(flush_ev, 0, 0);
}

MDB_env *
store_env(void)
{
	return env;
}

MDB_txn *
store_mdb_txn(struct txn *t)
{
	return t->mdb;
}

MDB_dbi
store_dbi(int db)
{
	return dbis[db];
}

/* Get a value; 0, MDB_NOTFOUND or an LMDB error. */
int
store_get(struct txn *t, int db, const void *key, size_t klen, MDB_val *v)
{
	MDB_val	k;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	return mdb_get(t->mdb, dbis[db], &k, v);
}

int
store_put(struct txn *t, int db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val	k, v, old;
	int	rc;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	if (!in_turn)		/* replay: nothing to undo */
		rc = mdb_put(t->mdb, dbis[db], &k, &v, 0);
	else {
		/*
		 * The undo record without a search of its own for a new key
		 * (most writes): MDB_NOOVERWRITE puts it, or stops with old
		 * set to the value there, recorded before it is replaced.
		 */
		old = v;
		if ((rc = mdb_put(t->mdb, dbis[db], &k, &old,
		    MDB_NOOVERWRITE)) == 0)
			undo_record(db, &k, NULL);
		else if (rc == MDB_KEYEXIST) {
			undo_record(db, &k, &old);
			rc = mdb_put(t->mdb, dbis[db], &k, &v, 0);
		}
	}
	if (rc == 0 && !migrating)
		redo_put(db, &k, &v);
	return rc;
}

/* Delete a key; a missing key is not an error. */
int
store_del(struct txn *t, int db, const void *key, size_t klen)
{
	MDB_val	k, old;
	int	rc;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	if (!in_turn)
		rc = mdb_del(t->mdb, dbis[db], &k, NULL);
	else if ((rc = mdb_get(t->mdb, dbis[db], &k, &old)) == 0) {
		undo_record(db, &k, &old);
		rc = mdb_del(t->mdb, dbis[db], &k, NULL);
	}
	if (rc == 0 && !migrating)
		redo_del(db, &k);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete the entry cur (on database db) is at. 0 or an LMDB error. */
int
store_cursor_del(MDB_cursor *cur, int db)
{
	MDB_val	k, v;
	size_t	mark = redo_mark();
	int	rc;

	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) != 0)
		return rc;
	if (in_turn)
		undo_record(db, &k, &v);
	redo_del(db, &k);		/* k points into the page */
	if ((rc = mdb_cursor_del(cur, 0)) != 0)
		redo_rewind(mark);
	return rc;
}

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

/* ------------------------------------------------------------ runs */

struct idr_key {
	uint64_t	ms;
	char		uuid[UUID_LEN + 1];
};

/* Submission order: time, then uuid. */
static int
idr_cmp(const void *a, const void *b)
{
	const struct idr_key	*x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->uuid, y->uuid);
}

void
store_event_key(uint8_t *k, uint64_t id, uint64_t seq)
{
	be64_put(k, id);
	be64_put(k + 8, seq);
}

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
		if ((rc = mdb_put(t, dbis[DB_RUNS], &nk, &v, 0)) != 0 ||
		    (rc = mdb_put(t, dbis[DB_RUN_IDS], &k, &nk, 0)) != 0)
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
			rc = mdb_put(t, dbis[DB_EVENTS], &nk, &nv, 0);
		}
		run_free(&r);
	}
	free(ids);
	if (rc == 0) {
		k.mv_data = "run_id";
		k.mv_size = 6;
		v.mv_data = &n;
		v.mv_size = sizeof n;
		rc = mdb_put(t, dbis[DB_META], &k, &v, 0);
	}
	if (rc == 0 && (rc = mdb_drop(t, old_runs, 1)) == 0)
		rc = mdb_drop(t, old_events, 1);
	if (rc == 0)
		log_info("storage: schema 1 migrated to 2: %llu runs",
		    (unsigned long long)n);
	return rc;
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
	migrating = 1;
	/* The ids first: a write moves what a cursor's key points at. */
	if ((rc = mdb_cursor_open(mt, dbis[DB_RUNS], &c)) != 0)
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
	if ((rc = mdb_cursor_open(mt, dbis[DB_JOBDEFS], &c)) != 0)
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
	migrating = 0;
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
	if ((rc = mdb_cursor_open(t->mdb, dbis[db], &c)) != 0) {
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
