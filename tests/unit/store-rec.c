/*
 * store-rec.c's tests: a workspace's uid, given once from the range and
 * kept; configuration snapshots shared by equal configurations. Its
 * in_turn(), entries() and big_config() serve store-migrate.c's tests.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "store.h"

/* store_ws_uid() in an op of its own, committed. */
struct uid_op {
	struct op	 op;
	const char	*ws;
	uint32_t	 lo, hi, uid;
	int		 fresh, rc;
};

static int
uid_apply(struct op *op, struct txn *t)
{
	struct uid_op	*u = (struct uid_op *)op;

	u->rc = store_ws_uid(t, u->ws, u->lo, u->hi, &u->uid, &u->fresh);
	return u->rc == ERANGE ? 0 : u->rc;
}

static void
uid_done(struct op *op)
{
	(void)op;
}

static void
uid_fail(struct op *op, int rc)
{
	((struct uid_op *)op)->rc = rc;
}

/* The uid of ws from lo..hi: the uid, -1 (ERANGE) or -2 (another error);
 * *fresh: allocated now. */
static int64_t
ws_uid(const char *ws, uint32_t lo, uint32_t hi, int *fresh)
{
	struct uid_op	u;

	memset(&u, 0, sizeof u);
	u.op.apply = uid_apply;
	u.op.free = uid_done;
	u.op.fail = uid_fail;
	u.ws = ws;
	u.lo = lo;
	u.hi = hi;
	u.rc = -1;
	store_submit(&u.op);
	store_flush_now();
	if (fresh != NULL)
		*fresh = u.fresh;
	return u.rc == 0 ? (int64_t)u.uid : u.rc == ERANGE ? -1 : -2;
}

/*
 * A workspace's uid: allocated once, kept across a reopen, never shared,
 * never an account's; a used-up range is ERANGE, and a new range does not
 * give a uid out twice.
 */
void
test_store_ws_uid(void)
{
	const uint32_t	 lo = 2000100000;
	char		*cause = NULL;
	int		 fresh;
	int64_t		 want;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(ws_uid("a", lo, lo + 2, &fresh) == lo && fresh);
	CHECK(ws_uid("b", lo, lo + 2, &fresh) == lo + 1 && fresh);
	CHECK(ws_uid("a", lo, lo + 2, &fresh) == lo && !fresh);
	store_close();
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(ws_uid("a", lo, lo + 2, &fresh) == lo && !fresh);
	CHECK(ws_uid("b", lo, lo + 2, &fresh) == lo + 1 && !fresh);
	CHECK(ws_uid("c", lo, lo + 2, &fresh) == lo + 2 && fresh);
	CHECK(ws_uid("d", lo, lo + 2, &fresh) == -1 && !fresh);
	CHECK(ws_uid("d", lo, lo + 2, NULL) == -1);
	CHECK(ws_uid("a", lo, lo + 2, NULL) == lo);	/* still its own */
	/* A range elsewhere: from its start; a uid never moves. */
	CHECK(ws_uid("d", lo + 10, lo + 11, &fresh) == lo + 10 && fresh);
	CHECK(ws_uid("a", lo + 10, lo + 11, NULL) == lo);
	/* A range over given uids, from its start: they are skipped. */
	CHECK(ws_uid("e", lo, lo + 5, &fresh) == lo + 3 && fresh);
	CHECK(ws_uid("f", lo, lo + 20, &fresh) == lo + 4 && fresh);
	store_close();
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(ws_uid("d", lo, lo + 20, NULL) == lo + 10);
	CHECK(ws_uid("e", lo, lo + 20, NULL) == lo + 3);
	CHECK(ws_uid("f", lo, lo + 20, NULL) == lo + 4);
	/* An account's uid (nobody's, 65534) is skipped. */
	if (getpwuid(65534) != NULL) {
		want = getpwuid(65535) == NULL && getgrgid(65535) == NULL ?
		    65535 : -1;
		CHECK(ws_uid("g", 65534, 65535, NULL) == want);
	}
	store_close();
}

/* An op that runs fn in the turn's transaction (its checks after). */
struct fn_op {
	struct op	 op;
	int		(*fn)(struct txn *, void *);
	void		*arg;
	int		 rc;
};

static int
fn_apply(struct op *op, struct txn *t)
{
	struct fn_op	*o = (struct fn_op *)op;

	o->rc = o->fn(t, o->arg);
	return o->rc;
}

static void
fn_done(struct op *op)
{
	(void)op;
}

static void
fn_fail(struct op *op, int rc)
{
	((struct fn_op *)op)->rc = rc;
}

/* Run fn(t, arg) as one op of its own turn: its rc. */
int
in_turn(int (*fn)(struct txn *, void *), void *arg)
{
	struct fn_op	o = { { fn_apply, fn_fail, fn_done, { NULL, NULL } },
	    fn, arg, -1 };

	store_submit(&o.op);
	store_flush_now();
	return o.rc;
}

/* The number of records in db. */
size_t
entries(struct txn *t, int db)
{
	MDB_stat	st;

	if (mdb_stat(store_mdb_txn(t), store_dbi(db), &st) != 0)
		return (size_t)-1;
	return st.ms_entries;
}

/* A definition's configuration with an env of n bytes in one value. */
void
big_config(struct jobconfig *c, size_t n, const char *loc)
{
	char	*v = xmalloc(n + 1);

	memset(c, 0, sizeof *c);
	c->type = JT_PYTHON;
	c->source.type = c->source.oneof = SRC_WORKSPACE;
	c->source.path = xstrdup("jobs");
	c->source_location = xstrdup(loc);
	c->args = xstrdup("--def");
	memset(v, 'v', n);
	v[n] = '\0';
	kvlist_set(&c->env, "BIG", v);
	kvlist_set(&c->env, "B", "from-def");
	free(v);
	jobconfig_fill_defaults(c);
}

struct snap_check {
	uint8_t		 ref[4][CONFIG_REF_LEN];
	size_t		 configs[4];
	int		 slot1;		/* the collided one went to probe 1 */
	int		 same_back;	/* probe 1 holds the config's bytes */
};

static int
snap_fn(struct txn *t, void *arg)
{
	struct snap_check	*s = arg;
	struct jobconfig	 a, b;
	struct buf		 enc = { 0 };
	MDB_val			 v;
	int			 rc;

	big_config(&a, 5000, "a.py");
	big_config(&b, 5000, "b.py");
	if ((rc = store_config_ref(t, &a, s->ref[0])) != 0 ||
	    (rc = store_config_ref(t, &a, s->ref[1])) != 0 ||
	    (rc = store_config_ref(t, &b, s->ref[2])) != 0)
		goto out;
	s->configs[0] = entries(t, DB_CONFIGS);
	/* Another snapshot whose hash begins as a's: its bytes differ. */
	if ((rc = store_put(t, DB_CONFIGS, s->ref[0], CONFIG_REF_LEN, "other",
	    5)) != 0 || (rc = store_config_ref(t, &a, s->ref[3])) != 0)
		goto out;
	s->slot1 = memcmp(s->ref[3], s->ref[0], 16) == 0 &&
	    s->ref[3][CONFIG_REF_LEN - 1] == 1;
	wire_encode_jobconfig(&enc, &a);
	s->same_back = store_get(t, DB_CONFIGS, s->ref[3], CONFIG_REF_LEN,
	    &v) == 0 && v.mv_size == enc.len &&
	    memcmp(v.mv_data, enc.p, enc.len) == 0;
	s->configs[1] = entries(t, DB_CONFIGS);
out:
	buf_free(&enc);
	jobconfig_free(&a);
	jobconfig_free(&b);
	return rc;
}

/* Equal configurations share one snapshot, and one whose hash prefix is
 * taken by other bytes gets the next probe, never the other's bytes. */
void
test_store_config_shared(void)
{
	struct snap_check	 s;
	char			*cause = NULL;

	memset(&s, 0, sizeof s);
	CHECK(store_open(".", 1 << 22, &cause) == 0);
	CHECK(in_turn(snap_fn, &s) == 0);
	CHECK(memcmp(s.ref[0], s.ref[1], CONFIG_REF_LEN) == 0);
	CHECK(memcmp(s.ref[0], s.ref[2], CONFIG_REF_LEN) != 0);
	CHECK(s.configs[0] == 2);
	CHECK(s.slot1 && s.same_back);
	CHECK(s.configs[1] == 3);
	store_close();
}
