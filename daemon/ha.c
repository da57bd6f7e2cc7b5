/*
 * ha.c: high availability (ha = on): this node's role in its partition.
 *
 * A standby applies the leader's commits, which ha-js.c follows on the
 * partition's stream, to its own storage: each whole commit's records (in
 * the redo log's format) become the writes of one op, with the stream's
 * position among them (meta "ha_seq"), so a standby's storage always
 * says where in the stream it stands and follows on from there after a
 * restart. A standby serves nothing: no command subjects, no attempts, no
 * timers.
 *
 * When ha-js.c wins the lease, this node applies the stream up to its last
 * message, then commits a takeover (meta "ha_leader", "ha_term") at the
 * position after it: that append fences the leader before, whose next
 * commit finds the stream moved on. Only then does it serve (the callback
 * ha_start() was given: recovery, timers, command subjects), as batchd
 * serves after a restart. A leader's commits go to the stream before its
 * redo log (store-txn.c calls ha_js_publish()), so no reply, event or
 * attempt follows a commit the stream has not taken.
 *
 * A leader that loses the lease, or cannot append, or cannot store a
 * commit the stream took, abdicates: it execs itself again and comes back
 * as a standby (ha_js_abdicate()). Between the lease running out and
 * that, nothing is answered (ha_may_act()). A standby whose storage fails
 * holds the commits and applies them again a second later, in order, and
 * meanwhile does not try for the lease.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

enum role { STANDBY, CANDIDATE, TAKING, LEADER };

/* One op: commits of the stream applied in order. */
struct replica_op {
	struct op	 op;
	struct ha_item	*items;		/* HA_FRAME and HA_POS, in order */
};

static enum role	 role;
static uint64_t		 pos;		/* the stream's position applied */
static uint64_t		 target;	/* a candidate's: the stream's last */
static uint64_t		 term;		/* takeovers so far (meta ha_term) */
static int64_t		 lead_ms;	/* mono: when this node took over */
static int		 inflight;	/* replica ops not yet applied */
static int		 failing;	/* storage failed: held, retried */
static struct ha_item	*held, **held_tail = &held;	/* while failing */
static struct event	*wake_ev, *tick_ev, *serve_ev, *retry_ev;
static void		(*serve_cb)(void);

static void	take_over(void);
static void	replica_submit(struct ha_item *);

static void
items_free(struct ha_item *it)
{
	struct ha_item	*next;

	for (; it != NULL; it = next) {
		next = it->next;
		free(it->data);
		free(it);
	}
}

const char *
ha_role(void)
{
	static const char *names[] = { "standby", "candidate", "taking",
	    "leader" };

	return cfg->ha ? names[role] : "single";
}

uint64_t
ha_position(void)
{
	return role == LEADER ? ha_js_position() : pos;
}

/* A number of the storage's meta between turns (ha_seq, ha_term); 0 if
 * it has none. */
static uint64_t
stored_u64(const char *key)
{
	MDB_txn	*r;
	MDB_val	 k = { strlen(key), (void *)key }, v;

	if ((r = store_reader()) == NULL ||
	    mdb_get(r, store_dbi(DB_META), &k, &v) != 0 || v.mv_size != 8)
		return 0;
	return be64_get(v.mv_data);
}

/* Takeovers of the partition so far, as this node's storage has them. */
uint64_t
ha_term(void)
{
	return term = stored_u64(HA_TERM_KEY);
}

/* Milliseconds left of ha_grace_s since this node took over; 0 when done
 * or without HA. */
int64_t
ha_grace_left(void)
{
	int64_t	left;

	if (!cfg->ha || role != LEADER)
		return 0;
	left = lead_ms + (int64_t)cfg->ha_grace_s * 1000 - mono_ms();
	return left > 0 ? left : 0;
}

/* ------------------------------------------------------------ replica */

static int
apply_record(int type, int db, MDB_val *k, MDB_val *v, void *arg)
{
	struct txn	*t = arg;

	if (type == 'P')
		return store_put(t, db, k->mv_data, k->mv_size, v->mv_data,
		    v->mv_size);
	return store_del(t, db, k->mv_data, k->mv_size);
}

static uint64_t
meta_u64(struct txn *t, const char *key)
{
	MDB_val	v;

	if (store_get(t, DB_META, key, strlen(key), &v) != 0 ||
	    v.mv_size != 8)
		return 0;
	return be64_get(v.mv_data);
}

static int
replica_apply(struct op *o, struct txn *t)
{
	struct replica_op	*r = (struct replica_op *)o;
	struct ha_item		*it;
	int			 rc;

	if (failing)		/* an earlier one failed: in order, after it */
		return EAGAIN;
	for (it = r->items; it != NULL; it = it->next)
		if (it->data != NULL && (rc = redo_parse(it->data, it->len,
		    apply_record, t)) != 0)
			return rc;
	return 0;
}

static void
replica_free(struct op *o)
{
	struct replica_op	*r = (struct replica_op *)o;
	struct ha_item		*it;

	for (it = r->items; it != NULL; it = it->next)
		pos = it->seq;
	items_free(r->items);
	free(r);
	inflight--;
	ha_js_show(0, pos);
	ha_js_hold(0);
	if (role == CANDIDATE)
		take_over();
}

/*
 * The storage failed (a full disk): the commits are held, with those
 * that follow, and applied again, in order, a second later. An exec
 * would fail alike, again and again. Meanwhile this node may not take
 * over; a candidate, which holds the lease, leaves it to run out.
 */
static void
replica_fail(struct op *o, int rc)
{
	static const struct timeval	 tv = { 1, 0 };
	struct replica_op		*r = (struct replica_op *)o;

	if (!failing)
		log_warnx("ha: a commit of the stream could not be applied: "
		    "%s; again in a second", mdb_strerror(rc));
	if (role != STANDBY)
		ha_js_abdicate("storage failed");
	*held_tail = r->items;
	while (*held_tail != NULL)
		held_tail = &(*held_tail)->next;
	free(r);
	inflight--;
	failing = 1;
	ha_js_hold(1);
	if (!evtimer_pending(retry_ev, NULL))
		evtimer_add(retry_ev, &tv);
}

/* A second after the storage failed: the held commits again. */
static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ha_item	*l = held;

	(void)fd;
	(void)what;
	(void)arg;
	failing = 0;
	held = NULL;
	held_tail = &held;
	if (l != NULL)
		replica_submit(l);
}

/* Apply the stream's messages l (frames and bare positions) as one op. */
static void
replica_submit(struct ha_item *l)
{
	struct replica_op	*r;

	r = xcalloc(1, sizeof *r);
	r->op.apply = replica_apply;
	r->op.fail = replica_fail;
	r->op.free = replica_free;
	r->items = l;
	inflight++;
	store_submit(&r->op);
}

/* ------------------------------------------------------------ takeover */

static int
takeover_apply(struct op *o, struct txn *t)
{
	uint8_t	v[8];
	int	rc;

	(void)o;
	term = meta_u64(t, HA_TERM_KEY) + 1;
	be64_put(v, term);
	if ((rc = store_put(t, DB_META, HA_TERM_KEY, sizeof HA_TERM_KEY - 1,
	    v, 8)) != 0)
		return rc;
	return store_put(t, DB_META, "ha_leader", 9, cfg->ha_node,
	    strlen(cfg->ha_node));
}

static void
takeover_free(struct op *o)
{
	free(o);
	role = LEADER;
	lead_ms = mono_ms();
	pos = ha_js_position();
	ha_js_show(1, pos);
	log_info("ha: leading (term %" PRIu64 ", stream at %" PRIu64 ")",
	    term, pos);
	notify_send("STATUS=leading");
	event_active(serve_ev, 0, 0);	/* after this turn's answers */
}

/* Serve, as after a restart: recovery, timers, the command subjects. */
static void
on_serve(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	serve_cb();
}

static void
takeover_fail(struct op *o, int rc)
{
	(void)rc;
	free(o);
	ha_js_abdicate("the takeover could not be committed");
}

/* A candidate that has applied the stream up to where it stood when the
 * lease was won commits its takeover, alone in its turn. */
static void
take_over(void)
{
	struct op	*o;

	if (role != CANDIDATE || inflight > 0 || pos < target)
		return;
	role = TAKING;
	ha_js_lead(pos);
	o = xcalloc(1, sizeof *o);
	o->apply = takeover_apply;
	o->fail = takeover_fail;
	o->free = takeover_free;
	store_submit(o);
}

/*
 * The log was compacted past what this standby has applied: empty its
 * storage and start again, to load the newest snapshot.
 */
static void
start_over(void)
{
	const char	*files[] = { "data.mdb", "lock.mdb", "redo" };
	char		*path;
	size_t		 i;

	if (role != STANDBY && role != CANDIDATE)
		ha_js_abdicate("the stream lost what this node needs");
	log_warnx("ha: the stream was compacted past %" PRIu64 "; emptying "
	    "this node's storage to load a snapshot", pos);
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		xasprintf(&path, "%s/lmdb/%s", cfg->data_dir, files[i]);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("unlink %s", path);
		free(path);
	}
	ha_js_abdicate("starting over");
}

/* ------------------------------------------------------------ events */

/* What ha-js.c told: commits to apply, the lease won or lost. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct ha_item	*l, *next, *run = NULL, **tail = &run;

	(void)fd;
	(void)what;
	(void)arg;
	for (l = ha_js_take(); l != NULL; l = next) {
		next = l->next;
		l->next = NULL;
		switch (l->type) {
		case HA_WON:
			if (role == STANDBY) {
				role = CANDIDATE;
				target = l->seq;
			}
			items_free(l);
			break;
		case HA_LOST:
			items_free(l);
			items_free(run);
			if (role != STANDBY)
				ha_js_abdicate("the lease was lost");
			return;
		case HA_GAP:
			items_free(l);
			items_free(run);
			start_over();
			return;
		default:
			if (role == TAKING || role == LEADER) {
				/* Past what the takeover expects: another
				 * node wrote, and the stream refuses it. */
				items_free(l);
				break;
			}
			*tail = l;
			tail = &l->next;
		}
	}
	if (run != NULL && failing) {
		*held_tail = run;
		held_tail = tail;
	} else if (run != NULL)
		replica_submit(run);
	take_over();
}

/* Every 250 ms: a leader whose lease ran out stops at once. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval	tv = { 0, 250000 };

	(void)fd;
	(void)what;
	(void)arg;
	if (role == LEADER && !ha_js_lease_valid())
		ha_js_abdicate("the lease ran out");
	evtimer_add(tick_ev, &tv);
}

/*
 * Start as a standby from the position this node's storage has applied;
 * serve() runs once this node leads.
 */
void
ha_start(void (*serve)(void))
{
	serve_cb = serve;
	pos = stored_u64(HA_SEQ_KEY);
	term = stored_u64(HA_TERM_KEY);
	log_info("ha: node %s, a standby at %" PRIu64 " of %s_%u",
	    cfg->ha_node, pos, cfg->ha_stream, cfg->partition);
	wake_ev = event_new(base, -1, 0, on_wake, NULL);
	serve_ev = event_new(base, -1, 0, on_serve, NULL);
	tick_ev = evtimer_new(base, on_tick, NULL);
	retry_ev = evtimer_new(base, on_retry, NULL);
	on_tick(-1, 0, NULL);
	ha_js_start(pos, wake_ev);
	ha_js_show(0, pos);
	notify_send("STATUS=standby");
}

void
ha_stop(void)
{
	if (!cfg->ha)
		return;
	ha_js_stop();
	items_free(ha_js_take());
	items_free(held);
	held = NULL;
	held_tail = &held;
	if (retry_ev != NULL)
		event_free(retry_ev);
	if (wake_ev != NULL)
		event_free(wake_ev);
	if (tick_ev != NULL)
		event_free(tick_ev);
	if (serve_ev != NULL)
		event_free(serve_ev);
	wake_ev = tick_ev = serve_ev = retry_ev = NULL;
}
