/*
 * store-env.c: the LMDB environment under the storage: its databases, the
 * write transaction kept open between checkpoints ("live"), checkpoints
 * and the map's size.
 *
 * Durable is the redo log's (redo.c): ops write into live; every put and
 * delete is also recorded, and a turn's records are one frame appended to
 * the log and synced (store-txn.c). A checkpoint (CKPT_BYTES of log, or
 * CKPT_MS after live began, or shutdown) commits live, LMDB's own synced
 * commit, and the log starts over. LMDB on disk is always a checkpoint;
 * start-up applies the log's frames on top of it. A B-tree page a
 * thousand turns dirty is written once per checkpoint, not once per turn.
 * Reads between turns (store_reader()) see live. A turn whose log write
 * fails, or an op that leaves live unusable (an LMDB error), drops live:
 * the next turn applies the log to a new one (store_live_begin()).
 *
 * MDB_MAP_FULL: the map is doubled, up to MAP_GROWTH_MAX times the
 * configured size, while no transaction is open (store_map_grow()). A
 * checkpoint that fails loses live, not what the log holds: the next turn
 * replays the log into a new one.
 *
 * Calls go down only, to redo.c and LMDB: the turn (store-txn.c) calls
 * this file, never the reverse.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"
#include "store-int.h"

#define MAP_GROWTH_MAX	64
#define CKPT_MS		1000

static const char *db_names[DB__COUNT] = {
	"meta", "jobdefs", "jobdef_names", "clusters", "cluster_names",
	"runs_by_id", "queue", "idem", "runidx", "events_by_id", "outbox",
	"run_ids", "configs", "config_refs", "schedules", "schedule_names",
	"schedidx"
};

static MDB_env		*env;
static MDB_dbi		 dbis[DB__COUNT];
static struct event	*ckpt_ev;
static size_t		 map_size, map_max;
static MDB_txn		*live;		/* open between checkpoints */
static uint64_t		 gen;		/* the redo log's, meta "redo_gen" */
static uint8_t		*map_addr;	/* of data.mdb, NULL: not known yet */

/* Replaced by tests: how a checkpoint commits. */
int			(*store_txn_commit)(MDB_txn *) = mdb_txn_commit;

static void	ckpt_fire(evutil_socket_t, short, void *);
static void	map_trim(void);

/*
 * Open (creating) the environment under dir, take the redo log's lock and
 * begin the first write transaction, *t, with every database open and the
 * redo log's generation read: the caller checks the schema in it and
 * commits it. 0, or -1 with *cause (then nothing is left open).
 */
int
store_env_open(const char *dir, size_t mapsize, MDB_txn **t, char **cause)
{
	MDB_envinfo	 info;
	MDB_val		 k, v;
	char		*path;
	int		 rc, i;

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
	mdb_env_info(env, &info);
	if (info.me_mapsize > map_size)
		map_size = info.me_mapsize;
	/* Its lock first: the only writer of this environment. */
	xasprintf(&path, "%s/lmdb/redo", dir);
	rc = redo_open(path, cause);
	free(path);
	if (rc == -1) {
		store_env_close();
		return -1;
	}
	if ((rc = mdb_txn_begin(env, NULL, 0, t)) != 0)
		goto fail;
	for (i = 0; i < DB__COUNT; i++)
		if ((rc = mdb_dbi_open(*t, db_names[i], MDB_CREATE,
		    &dbis[i])) != 0) {
			mdb_txn_abort(*t);
			goto fail;
		}
	k.mv_data = "redo_gen";
	k.mv_size = strlen(k.mv_data);
	gen = 0;
	if (mdb_get(*t, dbis[DB_META], &k, &v) == 0 && v.mv_size == 8)
		gen = be64_get(v.mv_data);
	ckpt_ev = evtimer_new(base, ckpt_fire, NULL);
	return 0;
fail:
	xasprintf(cause, "storage: %s", mdb_strerror(rc));
	store_env_close();
	return -1;
}

/* Commit live (the last checkpoint), close the redo log and the
 * environment. */
void
store_env_close(void)
{
	store_checkpoint();
	redo_close();
	if (ckpt_ev != NULL)
		event_free(ckpt_ev);
	ckpt_ev = NULL;
	map_addr = NULL;
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
}

/* ------------------------------------------------------------ live */

/* One record of the redo log, into live. */
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
int
store_live_begin(void)
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
		store_map_grow();
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
int
store_checkpoint(void)
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
			store_map_grow();	/* no transaction now */
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

/* CKPT_MS after live began. */
static void
ckpt_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	store_checkpoint();
}

/* live, or NULL when it is not open (store_live_begin()). */
MDB_txn *
store_live(void)
{
	return live;
}

/* Throw live away: the log has everything acknowledged; the next turn
 * applies it to a new one. */
void
store_live_drop(void)
{
	if (live != NULL)
		mdb_txn_abort(live);
	live = NULL;
}

/*
 * Any thread: the last checkpoint whole, as 'P' records in the redo log's
 * format, handed to fn in pieces of about max bytes (HA's snapshots,
 * ha-snap.c); the redo log's generation, this node's own, is left out.
 * 0, or an LMDB error or fn's.
 */
int
store_dump(size_t max, int (*fn)(const uint8_t *, size_t, void *),
    void *arg)
{
	MDB_txn		*r;
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct buf	 b = { 0 };
	int		 rc, db;

	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &r)) != 0)
		return rc;
	for (db = 0; db < DB__COUNT && rc == 0; db++) {
		if ((rc = mdb_cursor_open(r, dbis[db], &c)) != 0)
			break;
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (db == DB_META && k.mv_size == 8 &&
			    memcmp(k.mv_data, "redo_gen", 8) == 0)
				continue;
			redo_record(&b, 'P', db, &k, &v);
			if (b.len >= max) {
				if ((rc = fn(b.p, b.len, arg)) != 0)
					break;
				b.len = 0;
			}
		}
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0 && b.len > 0)
		rc = fn(b.p, b.len, arg);
	mdb_txn_abort(r);
	buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------ map */

/* May the map grow (it is below MAP_GROWTH_MAX times the configured)? */
int
store_map_can_grow(void)
{
	return map_size < map_max;
}

/* Double the map, up to map_max; only with no transaction open. */
void
store_map_grow(void)
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

/* The map's size now. */
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

/* The environment (metrics and tests read it). */
MDB_env *
store_env(void)
{
	return env;
}

/* The handle of database db (DB_*). */
MDB_dbi
store_dbi(int db)
{
	return dbis[db];
}
