/*
 * store-int.h: what the storage's own files (store*.c) share, and no other
 * file includes. The storage's interface is batchd.h's store group.
 *
 * Calls go one way, down this list: store.c (open, close) ->
 * store-migrate.c (schema) -> store-rec.c (records) -> store-txn.c (the
 * turn) -> store-env.c (LMDB environment) -> redo.c (the redo log).
 */
#ifndef STORE_INT_H
#define STORE_INT_H

struct effect;
STAILQ_HEAD(effects, effect);

/*
 * The transaction an op applies in: the turn's LMDB write transaction
 * (live, store-env.c), and what the op defers and chains until its writes
 * stand (store-txn.c).
 */
struct txn {
	MDB_txn		*mdb;
	struct effects	 effects;
	struct ops	 then;		/* txn_then() */
};

/* store-env.c */
int	 store_env_open(const char *, size_t, MDB_txn **, char **);
void	 store_env_close(void);
MDB_txn	*store_live(void);
int	 store_live_begin(void);
void	 store_live_drop(void);
int	 store_checkpoint(void);
int	 store_map_can_grow(void);
void	 store_map_grow(void);

/* store-txn.c */
void	 store_txn_start(void);
void	 store_txn_close(void);
void	 store_redo_bypass(int);

/* store-migrate.c */
int	 store_schema(MDB_txn *, int *, char **);
int	 store_migrate_2(char **);

#endif /* STORE_INT_H */
