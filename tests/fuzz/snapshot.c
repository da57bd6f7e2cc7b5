/*
 * snapshot.c: the fuzz harness's copy of the seeded database: db_walk()
 * takes it or compares the database with it (naming the first record that
 * differs), restore() writes it back through the store's own ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "fuzz.h"

struct rec {
	int	 db;
	MDB_val	 k, v;
};
static struct rec	*snap;
static size_t		 nsnap;
char			 diff_at[160];	/* the first record that differed */

static void *
memdup(const void *p, size_t n)
{
	void	*q = xmalloc(n == 0 ? 1 : n);

	if (n != 0)
		memcpy(q, p, n);
	return q;
}

/* Storage's own key: a checkpoint bumps it any time. */
static int
is_redo_gen(int db, const MDB_val *k)
{
	return db == DB_META && k->mv_size == 8 &&
	    memcmp(k->mv_data, "redo_gen", 8) == 0;
}

/* The first bytes of k in hex ("(none)" for NULL). */
static void
hex(char *out, size_t len, const MDB_val *k)
{
	size_t	i, n = 0;

	snprintf(out, len, "(none)");
	for (i = 0; k != NULL && i < k->mv_size && n + 3 < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%02x",
		    ((const uint8_t *)k->mv_data)[i]);
}

/* Say in diff_at which record differed: database and key, now and before. */
static void
note_diff(int db, const MDB_val *k, const struct rec *was)
{
	char	now[64], before[64];

	hex(now, sizeof now, k);
	hex(before, sizeof before, was != NULL ? &was->k : NULL);
	snprintf(diff_at, sizeof diff_at, "db %d key %s, snapshot db %d key %s",
	    db, now, was != NULL ? was->db : -1, before);
}

/*
 * Walk every record of every database in order. With keep, copy them into
 * the snapshot; otherwise compare them with it. Returns 1 if they differ.
 */
int
db_walk(int keep)
{
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;
	size_t		 i = 0;
	int		 db, rc, differ = 0;

	if ((t = store_reader()) == NULL)
		fail("no read transaction");
	for (db = 0; db < DB__COUNT && !differ; db++) {
		if ((rc = mdb_cursor_open(t, store_dbi(db), &c)) != 0)
			fail("cursor: %s", mdb_strerror(rc));
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (is_redo_gen(db, &k))
				continue;
			if (keep) {
				snap = xreallocarray(snap, i + 1, sizeof *snap);
				snap[i].db = db;
				snap[i].k.mv_size = k.mv_size;
				snap[i].k.mv_data = memdup(k.mv_data, k.mv_size);
				snap[i].v.mv_size = v.mv_size;
				snap[i++].v.mv_data = memdup(v.mv_data,
				    v.mv_size);
				continue;
			}
			if (i >= nsnap || snap[i].db != db ||
			    snap[i].k.mv_size != k.mv_size ||
			    snap[i].v.mv_size != v.mv_size ||
			    memcmp(snap[i].k.mv_data, k.mv_data, k.mv_size) != 0 ||
			    memcmp(snap[i].v.mv_data, v.mv_data, v.mv_size) != 0) {
				note_diff(db, &k, i < nsnap ? &snap[i] : NULL);
				differ = 1;
				break;
			}
			i++;
		}
		mdb_cursor_close(c);
	}
	if (keep)
		nsnap = i;
	if (!keep && !differ && i != nsnap)	/* records gone or added */
		note_diff(-1, NULL, i < nsnap ? &snap[i] : NULL);
	return differ || (!keep && i != nsnap);
}

/*
 * An op that writes the snapshot back over everything, through the
 * store's own deletes and puts: they are in the redo log like any op's, so
 * a live transaction rebuilt from it (after the map grew, say) still has
 * them. (mdb_drop() and mdb_put() straight on the transaction were lost
 * then, and the next input found the run_id counter of an earlier one.)
 */
static int
restore_apply(struct op *op, struct txn *t)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	size_t		 i;
	int		 db, rc;

	(void)op;
	for (db = 0; db < DB__COUNT; db++) {
		if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(db),
		    &c)) != 0)
			return rc;
		/* After a delete the cursor is on the entry that followed:
		 * LMDB's MDB_NEXT gives that one. Storage's own key stays. */
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
			if (!is_redo_gen(db, &k) &&
			    (rc = store_cursor_del(c, db)) != 0)
				break;
		mdb_cursor_close(c);
		if (rc != MDB_NOTFOUND)
			return rc;
	}
	for (i = 0; i < nsnap; i++)
		if ((rc = store_put(t, snap[i].db, snap[i].k.mv_data,
		    snap[i].k.mv_size, snap[i].v.mv_data,
		    snap[i].v.mv_size)) != 0)
			return rc;
	return 0;
}

static void
restore_fail(struct op *op, int rc)
{
	(void)op;
	fail("restoring the snapshot: %s", mdb_strerror(rc));
}

static void
restore_free(struct op *op)
{
	(void)op;
}

void
restore(void)
{
	static struct op	op = { restore_apply, restore_fail,
	    restore_free, { NULL, NULL } };

	store_submit(&op);
	store_flush_now();
	if (db_walk(0))
		fail("the snapshot did not restore");
}
