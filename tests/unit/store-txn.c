/*
 * store-txn.c's tests: the turn's transaction (group commit, undo of a
 * failed op, lazy ops, deferred and late effects, txn_then()). Its op
 * helpers (put(), stored()) serve the other store tests too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "store.h"

struct put_op {
	struct op	 op;
	const char	*key;
	size_t		 vlen;
	int		 fail;		/* return this after writing */
	int		*done, *failed_rc;
};

static int
put_apply(struct op *op, struct txn *t)
{
	struct put_op	*p = (struct put_op *)op;
	char		*v;
	int		 rc;

	v = xcalloc(1, p->vlen);
	rc = store_put(t, DB_META, p->key, strlen(p->key), v, p->vlen);
	free(v);
	return rc != 0 ? rc : p->fail;
}

static void
put_free(struct op *op)
{
	struct put_op	*p = (struct put_op *)op;

	(*p->done)++;
	free(p);
}

static void
put_fail(struct op *op, int rc)
{
	struct put_op	*p = (struct put_op *)op;

	*p->failed_rc = rc;
	free(p);
}

static struct op *
put_op(const char *key, size_t vlen, int fail, int *done, int *failed_rc)
{
	struct put_op	*p = xcalloc(1, sizeof *p);

	p->op.apply = put_apply;
	p->op.free = put_free;
	p->op.fail = put_fail;
	p->key = key;
	p->vlen = vlen;
	p->fail = fail;
	p->done = done;
	p->failed_rc = failed_rc;
	return &p->op;
}

/* put_op() queued; used by the redo and environment tests too. */
void
put(const char *key, size_t vlen, int fail, int *done, int *failed_rc)
{
	store_submit(put_op(key, vlen, fail, done, failed_rc));
}

struct get_op {
	struct op	 op;
	const char	*key;
	int		*rc;
	size_t		*len;
};

static int
get_apply(struct op *op, struct txn *t)
{
	struct get_op	*g = (struct get_op *)op;
	MDB_val		 v;

	*g->rc = store_get(t, DB_META, g->key, strlen(g->key), &v);
	if (*g->rc == 0 && g->len != NULL)
		*g->len = v.mv_size;
	return 0;
}

static void
get_free(struct op *op)
{
	free(op);
}

static void
get_fail(struct op *op, int rc)
{
	(void)rc;
	free(op);
}

/* The size of key's value, or -1 if it is not stored. */
long
stored_len(const char *key)
{
	struct get_op	*g = xcalloc(1, sizeof *g);
	size_t		 len = 0;
	int		 rc = -1;

	g->op.apply = get_apply;
	g->op.free = get_free;
	g->op.fail = get_fail;
	g->key = key;
	g->rc = &rc;
	g->len = &len;
	store_submit(&g->op);
	store_flush_now();
	return rc == 0 ? (long)len : -1;
}

/* Whether key is stored. */
int
stored(const char *key)
{
	return stored_len(key) != -1;
}

void
test_store_group_commit(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("a", 10, 0, &done, &frc);
	put("b", 10, EIO, &done, &frc);	/* its write is rolled back */
	put("c", 10, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 2);
	CHECK(frc == EIO);
	CHECK(stored("a"));
	CHECK(!stored("b"));
	CHECK(stored("c"));
	store_close();
	/* Durable across a reopen. */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && stored("c") && !stored("b"));
	store_close();
}

/* A failed op's overwrites are undone, in the same turn as good ops. */
void
test_store_undo(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("a", 10, 0, &done, &frc);
	put("b", 20, 0, &done, &frc);
	store_flush_now();
	put("a", 30, 0, &done, &frc);
	put("b", 40, EIO, &done, &frc);	/* overwrites b, then fails */
	put("b", 50, EIO, &done, &frc);	/* twice */
	put("c", 60, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 4 && frc == EIO);
	CHECK(stored_len("a") == 30 && stored_len("b") == 20 &&
	    stored_len("c") == 60);
	store_close();
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored_len("a") == 30 && stored_len("b") == 20 &&
	    stored_len("c") == 60);
	store_close();
}

/* An op of several writes: "+key:len" puts, "-key" deletes; then fail. */
struct multi_op {
	struct op	  op;
	const char	**steps;
	int		  fail;
	int		 *done;
};

static int
multi_apply(struct op *op, struct txn *t)
{
	struct multi_op	 *m = (struct multi_op *)op;
	const char	**s;
	char		  key[16], *v;
	size_t		  klen;
	int		  rc = 0;

	for (s = m->steps; *s != NULL && rc == 0; s++) {
		klen = strcspn(*s + 1, ":");
		memcpy(key, *s + 1, klen);
		if (**s == '-') {
			rc = store_del(t, DB_META, key, klen);
			continue;
		}
		v = xcalloc(1, (size_t)atoi(*s + 2 + klen));
		rc = store_put(t, DB_META, key, klen, v,
		    (size_t)atoi(*s + 2 + klen));
		free(v);
	}
	return rc != 0 ? rc : m->fail;
}

static void
multi_free(struct op *op)
{
	(*((struct multi_op *)op)->done)++;
	free(op);
}

static void
multi_fail(struct op *op, int rc)
{
	(void)rc;
	free(op);
}

static void
multi(const char **steps, int fail, int *done)
{
	struct multi_op	*m = xcalloc(1, sizeof *m);

	m->op.apply = multi_apply;
	m->op.free = multi_free;
	m->op.fail = multi_fail;
	m->steps = steps;
	m->fail = fail;
	m->done = done;
	store_submit(&m->op);
}

/* A failed op's inserts, replacements (larger, onto overflow pages,
 * smaller) and deletes are all undone, newest first; the next op's stay. */
void
test_store_undo_mixed(void)
{
	static const char	*first[] = { "+a:10", "+b:20", "+c:9000", NULL };
	static const char	*failing[] = { "-a", "+b:5000", "+c:30", "+d:40",
				    "-d", "+d:50", "+b:60", "-e", NULL };
	static const char	*after[] = { "-c", "+e:70", NULL };
	char			*cause = NULL;
	int			 done = 0, i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	multi(first, 0, &done);
	store_flush_now();
	multi(failing, EIO, &done);
	multi(after, 0, &done);
	store_flush_now();
	CHECK(done == 2);
	for (i = 0; i < 2; i++) {
		CHECK(stored_len("a") == 10 && stored_len("b") == 20 &&
		    stored_len("c") == -1 && stored_len("d") == -1 &&
		    stored_len("e") == 70);
		store_close();			/* and after a checkpoint */
		CHECK(store_open(".", 1 << 20, &cause) == 0);
	}
	store_close();
}

/* A lazy op waits for a commit to ride on: it costs no fsync of its own. */
void
test_store_lazy_rides_along(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	store_submit_lazy(put_op("lazy", 10, 0, &done, &frc));
	CHECK(done == 0);		/* no commit for it alone */
	CHECK(!stored("lazy"));		/* applied after the get it rode on */
	CHECK(done == 1);
	CHECK(stored("lazy"));
	store_submit_lazy(put_op("lazy2", 10, 0, &done, &frc));
	store_close();			/* shutdown drops it, unapplied */
	CHECK(frc == 0);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("lazy") && !stored("lazy2"));
	store_close();
}

/*
 * Effects run in the order they were deferred, the late ones (a process
 * started or signalled) after all the others of the turn and in their own
 * order; a failed op's effects, late or not, do not run.
 */
struct fx_op {
	struct op	 op;
	const char	*fx;		/* upper case: late */
	int		 fail;
	const char	*then_fx;	/* an op to apply after it: txn_then() */
	int		 then_fail;
};
static struct fx_op	*fx_new(const char *, int);
static struct event	*wr_ev;		/* '#': stands for the socket's write */
static char	fx_ran[16];

static void
fx_run(void *arg)
{
	size_t	n = strlen(fx_ran);

	if (n + 1 < sizeof fx_ran) {
		fx_ran[n] = *(const char *)arg;
		fx_ran[n + 1] = '\0';
	}
}

/* The socket's write event: priority 1, made active as cnats asks. */
static void
wr_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fx_run(arg);
}

static void
wr_activate(void *arg)
{
	(void)arg;
	event_active(wr_ev, 0, 0);
}

static int
fx_apply(struct op *op, struct txn *t)
{
	struct fx_op	*f = (struct fx_op *)op;
	const char	*c;
	char		 key[3] = { 'f', 'x', f->fx[0] };
	int		 rc;

	if ((rc = store_put(t, DB_META, key, 3, "", 0)) != 0)
		return rc;
	for (c = f->fx; *c != '\0'; c++)
		if (*c == '#')
			txn_defer(t, wr_activate, NULL, NULL);
		else if (*c >= 'A' && *c <= 'Z')
			txn_defer_late(t, fx_run, (void *)c, NULL);
		else
			txn_defer(t, fx_run, (void *)c, NULL);
	if (f->then_fx != NULL)
		txn_then(t, &fx_new(f->then_fx, f->then_fail)->op);
	return f->fail;
}

static void
fx_free(struct op *op)
{
	free(op);
}

static void
fx_fail(struct op *op, int rc)
{
	(void)rc;
	free(op);
}

static struct fx_op *
fx_new(const char *effects, int fail)
{
	struct fx_op	*f = xcalloc(1, sizeof *f);

	f->op.apply = fx_apply;
	f->op.free = fx_free;
	f->op.fail = fx_fail;
	f->fx = effects;
	f->fail = fail;
	return f;
}

static void
fx(const char *effects, int fail)
{
	store_submit(&fx_new(effects, fail)->op);
}

/* An op that queues another with txn_then(). */
static void
fx_then(const char *effects, int fail, const char *then, int then_fail)
{
	struct fx_op	*f = fx_new(effects, fail);

	f->then_fx = then;
	f->then_fail = then_fail;
	store_submit(&f->op);
}

void
test_store_late_effects(void)
{
	char	*cause = NULL;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	fx_ran[0] = '\0';
	fx("AbC", 0);
	fx("XyZ", EINVAL);
	fx("dEf", 0);
	store_flush_now();
	CHECK(strcmp(fx_ran, "bdfACE") == 0);
	store_close();
}

/*
 * In the loop, the late effects run after the events the turn's other
 * effects made active at the write event's priority: what a turn
 * published is written before its spawns.
 */
void
test_store_late_after_writes(void)
{
	char	*cause = NULL;
	int	 i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	wr_ev = event_new(base, -1, 0, wr_fire, (void *)"w");
	event_priority_set(wr_ev, 1);
	fx_ran[0] = '\0';
	fx("aB#c", 0);
	for (i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(strcmp(fx_ran, "acwB") == 0);
	event_free(wr_ev);
	store_close();
}

/*
 * An op queued with txn_then() is applied in the same turn (one commit),
 * after the ops already in it; not at all if the op that queued it failed;
 * and its own failure undoes only its own writes and drops only its own
 * effects.
 */
void
test_store_then(void)
{
	static const char	*stand = "acef", *gone = "xzq";
	char			*cause = NULL, key[3] = { 'f', 'x', 0 };
	const char		*c;
	uint64_t		 turns;
	MDB_txn			*r;
	MDB_val			 k = { 3, key }, v;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	fx_ran[0] = '\0';
	fx_then("ab", 0, "cD", 0);
	fx_then("xy", EINVAL, "z", 0);
	fx_then("e", 0, "q", EINVAL);
	fx("f", 0);
	turns = store_turns();
	store_flush_now();
	CHECK(store_turns() == turns + 1);
	CHECK(strcmp(fx_ran, "abefcD") == 0);
	CHECK((r = store_reader()) != NULL);
	for (c = stand; *c != '\0'; c++) {
		key[2] = *c;
		CHECK(mdb_get(r, store_dbi(DB_META), &k, &v) == 0);
	}
	for (c = gone; *c != '\0'; c++) {
		key[2] = *c;
		CHECK(mdb_get(r, store_dbi(DB_META), &k, &v) == MDB_NOTFOUND);
	}
	store_close();
}
