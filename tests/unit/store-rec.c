/*
 * store-rec.c's tests: a workspace's uid, given once from the range and
 * kept.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

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
