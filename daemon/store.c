/*
 * store.c: the storage: LMDB, a redo log and the group commit; its opening
 * and closing.
 *
 * The state changes of a loop turn (ops) are applied in one LMDB write
 * transaction and made durable together, by one synced write of the redo
 * log, before any reply, event or spawn they cause. The storage is these
 * files, each calling only those after it (store-int.h):
 *   store.c          open and close, in order: the environment, the
 *                    schema, the redo log applied, the turn's events
 *   store-migrate.c  the schema version; migrations of older stores
 *   store-rec.c      the records: the layout of the databases, the typed
 *                    get and put functions
 *   store-txn.c      the turn: ops, undo, the group commit, the effects
 *                    deferred until it stands
 *   store-env.c      the LMDB environment: the transaction kept open
 *                    between checkpoints, checkpoints, the map's size
 *   redo.c           the redo log's file: frames, sync, replay
 * Threading: the loop thread only; nothing here takes a lock.
 */
#include <stdlib.h>

#include "batchd.h"
#include "store-int.h"

/* Open (creating) the storage under dir: the environment, its schema
 * checked (or migrated), the redo log applied. 0, or -1 with *cause. */
int
store_open(const char *dir, size_t mapsize, char **cause)
{
	MDB_txn	*t;
	int	 rc, old2 = 0;

	if (store_env_open(dir, mapsize, &t, cause) == -1)
		return -1;
	if (store_schema(t, &old2, cause) == -1) {
		mdb_txn_abort(t);
		store_env_close();
		return -1;
	}
	if ((rc = mdb_txn_commit(t)) != 0) {
		xasprintf(cause, "storage: %s", mdb_strerror(rc));
		store_env_close();
		return -1;
	}
	/* What was acknowledged since the last checkpoint, into LMDB (if
	 * the disk takes it now; the log keeps it either way). */
	if ((rc = store_live_begin()) != 0) {
		store_close();
		xasprintf(cause, "storage: applying the redo log: %s",
		    mdb_strerror(rc));
		return -1;
	}
	if (old2) {
		if (store_migrate_2(cause) == -1) {
			store_close();
			return -1;
		}
	} else
		store_checkpoint();
	store_txn_start();
	log_info("storage open dir=%s map_size=%zu", dir, store_map_size());
	return 0;
}

/* Close the storage: the ops not applied are dropped, live is
 * checkpointed. */
void
store_close(void)
{
	store_txn_close();
	store_env_close();
}
