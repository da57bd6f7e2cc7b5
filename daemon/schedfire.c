/*
 * schedfire.c: schedules fire. One timer of the loop is armed for the head
 * of the time index (schedule.c's 't' entries, ordered by next fire); when
 * it goes off an op fires every schedule due, up to FIRE_BATCH of them,
 * and the next op takes the rest in the next turn: the fires of one
 * instant go in one commit (a turn of 10,000 fires holds the loop for
 * about 30 us each), and the outbox publishes their events after them,
 * not between. Nothing scans every
 * schedule: a fire reads the index's head, and a change of the index
 * (schedfire_rearm(), from the verbs) re-reads it once the change commits.
 *
 * The timer wakes EARLY_MS before a fire farther away than that, and is
 * armed again from there: the kernel lets epoll_wait() return late by
 * 0.1 % of its timeout, up to 100 ms, so a fire armed 30 s ahead would
 * come up to 30 ms late (and did, in bench part 5).
 *
 * Exactly once: a fire's run, the schedule's next fire (its index entry),
 * its counters and its ScheduleFireEvent (outbox.c) are one op, one
 * commit. A crash before the commit leaves the fire due; after it, the
 * fire is done. So a fire at T starts at most one run, and none is lost.
 *
 * Missed fires. A schedule whose fires came while batchd was down (before
 * boot_ms, when this life began) or while it could not fire (a busy loop,
 * a failed commit) is due with several fires at once: they are counted
 * (at most CATCHUP_MAX per op; the rest next turn) and only the latest,
 * L, is considered. L before boot_ms was missed while batchd was down:
 * misfire_policy SKIP skips it, RUN_ONCE starts its run. L after boot_ms
 * fires either way. The earlier fires are skipped; the one event published
 * stands for them all (ScheduleFireEvent.missed).
 *
 * A fire that cannot start its run (max_concurrent_runs reached, the
 * cluster's queue full, the cluster paused without auto-resume, the
 * definition or cluster gone, the workspace's quota) is skipped, and its
 * event says why. The schedule's next fire is planned from L either way.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batchd.h"

#define FIRE_BATCH	10000	/* schedules one op fires */
#define CATCHUP_MAX	10000	/* missed fires one op counts per schedule */
#define KEY_TIME	(1 + 8 + UUID_LEN)
#define EARLY_MS	100	/* the kernel's most slack on a wait */

struct due {
	int64_t		 ms;
	char		 uuid[UUID_LEN + 1];
};

/* What a committed fire op tells the metrics. */
struct tally {
	uint64_t	 n[FO__COUNT];
	int64_t		*lag;		/* ms, of the fires on time: one
					 * per schedule due at most */
	size_t		 nlag;
};

struct fire_op {
	struct op	 op;
	int		 more;		/* the batch was full */
	struct tally	 tally;
};

static struct event	*timer, *arm_ev;
static int64_t		 boot_ms;
static int		 op_pending;	/* a fire op is submitted */
static int		 arm_wanted;

static void	arm(void);

/* The head of the time index: its fire time, or -1 when it is empty. */
static int64_t
head(void)
{
	MDB_txn		*t;
	MDB_cursor	*c;
	MDB_val		 k, v;
	int64_t		 ms = -1;

	if ((t = store_reader()) == NULL ||
	    mdb_cursor_open(t, store_dbi(DB_SCHEDIDX), &c) != 0)
		return now_ms() + 1000;	/* look again in a second */
	k.mv_data = "t";
	k.mv_size = 1;
	if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 &&
	    k.mv_size == KEY_TIME && *(char *)k.mv_data == 't')
		ms = (int64_t)be64_get((uint8_t *)k.mv_data + 1);
	mdb_cursor_close(c);
	return ms;
}

static void	fire_submit(void);

/* The timer: the head is due, or near (arm()). */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	int64_t	ms;

	(void)fd;
	(void)what;
	(void)arg;
	if ((ms = head()) == -1 || ms > now_ms())
		arm();
	else
		fire_submit();
}

/*
 * Arm the timer for the head of the index (now, if it is due); EARLY_MS
 * before it when it is farther away, so the last wait is short and its
 * slack too.
 */
static void
arm(void)
{
	struct timeval	tv;
	int64_t		ms, d;

	if (timer == NULL || op_pending)
		return;		/* the op's end arms it */
	if ((ms = head()) == -1) {
		evtimer_del(timer);
		return;
	}
	d = ms - now_ms();
	if (d > 2 * EARLY_MS)
		d -= EARLY_MS;
	else if (d < 0)
		d = 0;
	tv.tv_sec = d / 1000;
	tv.tv_usec = (d % 1000) * 1000;
	evtimer_add(timer, &tv);
}

/* Once per loop turn, however many changes asked. */
static void
on_arm(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	arm_wanted = 0;
	arm();
}

static void
rearm_cb(void *arg)
{
	(void)arg;
	if (!arm_wanted && arm_ev != NULL) {
		arm_wanted = 1;
		event_active(arm_ev, 0, 0);
	}
}

/* The time index changes in t: re-read its head once t commits. */
void
schedfire_rearm(struct txn *t)
{
	txn_defer(t, rearm_cb, NULL, NULL);
}

/* ------------------------------------------------------------ firing */

/* The due entries of the index, up to max, into *d (owned); how many. */
static int
collect(struct txn *t, int64_t now, struct due **d, size_t max, size_t *n)
{
	size_t		 cap = 0;
	MDB_cursor	*c;
	MDB_val		 k, v;
	int64_t		 ms;
	int		 rc;

	*n = 0;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_SCHEDIDX),
	    &c)) != 0)
		return rc;
	k.mv_data = "t";
	k.mv_size = 1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    *n < max; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != KEY_TIME || *(char *)k.mv_data != 't' ||
		    (ms = (int64_t)be64_get((uint8_t *)k.mv_data + 1)) > now)
			break;
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*d = xreallocarray(*d, cap, sizeof **d);
		}
		(*d)[*n].ms = ms;
		memcpy((*d)[*n].uuid, (char *)k.mv_data + 9, UUID_LEN);
		(*d)[*n].uuid[UUID_LEN] = '\0';
		(*n)++;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The outcome a refused run counts as. */
static enum fireout
refused(const struct error *e)
{
	switch (e->code) {
	case E_PRECONDITION:
		return FO_CONCURRENCY;
	case E_QUEUE_FULL:
		return FO_QUEUE_FULL;
	case E_PAUSED:
		return FO_CLUSTER_PAUSED;
	case E_NOT_FOUND:
		return FO_NOT_FOUND;
	default:
		return FO_REFUSED;
	}
}

/*
 * The fires of s due by now, from its next: the latest into *last, how
 * many before it into *missed (those before boot_ms into *down), and the
 * fire after *last into *next (-1: none). Stops after CATCHUP_MAX: then
 * *next is still due.
 */
static void
catch_up(const struct schedule *s, int64_t now, int64_t *last,
    uint32_t *missed, uint32_t *down, int64_t *next)
{
	char	err[320];

	*last = s->next_fire_ms;
	*missed = *down = 0;
	while ((*next = schedule_next(s, *last, err, sizeof err)) != -1 &&
	    *next <= now && *missed < CATCHUP_MAX) {
		(*missed)++;
		*down += *last < boot_ms;
		*last = *next;
	}
}

/*
 * Fire schedule uuid, due at ms: start its run (or skip), plan its next
 * fire, publish the event, all in t. 0 or a storage error.
 */
static int
fire_one(struct txn *t, const struct due *d, int64_t now, struct tally *ty)
{
	struct schedule	 s, old;
	struct error	 e = { 0 };
	struct fire	 f;
	char		 made[UUID_LEN + 1] = "";
	uint8_t		 k[KEY_TIME];
	uint32_t	 missed, down;
	int64_t		 last, next;
	int		 rc;

	memset(&s, 0, sizeof s);
	if ((rc = store_get_schedule(t, d->uuid, &s)) != 0 || s.paused ||
	    s.next_fire_ms != d->ms) {
		/* A stale entry (never made by schedule_save()): drop it. */
		if (rc == 0)
			schedule_free(&s);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		log_warnx("schedule=%s stale time index entry dropped",
		    d->uuid);
		schedule_time_key(k, d->ms, d->uuid);
		return store_del(t, DB_SCHEDIDX, k, KEY_TIME);
	}
	old = s;
	catch_up(&s, now, &last, &missed, &down, &next);
	memset(&f, 0, sizeof f);
	f.sched_uuid = s.uuid;
	f.ws = s.ws;
	f.scheduled_ms = last;
	f.missed = missed;
	f.run_uuid = "";
	ty->n[FO_DOWNTIME] += down;
	ty->n[FO_MISSED] += missed - down;
	s.skipped += missed;
	if (next != -1 && next <= now) {
		/* More than CATCHUP_MAX missed: this one too; on next op. */
		s.skipped++;
		ty->n[last < boot_ms ? FO_DOWNTIME : FO_MISSED]++;
		s.next_fire_ms = next;
		rc = schedule_save(t, &s, &old);
		schedule_free(&s);
		return rc;
	}
	f.at_ms = now_ms();
	if (last < boot_ms && s.misfire != MF_RUN_ONCE) {
		f.skipped = "batchd was down at this fire (misfire_policy SKIP)";
		ty->n[FO_DOWNTIME]++;
		s.skipped++;
	} else if ((rc = schedule_start(t, &s, last, NULL, &e, made)) != 0)
		goto out;
	else if (e.code != E_OK) {
		f.skipped = e.message;
		ty->n[refused(&e)]++;
		s.skipped++;
		log_info("schedule=%s ws=%s fire skipped: %s", s.uuid, s.ws,
		    e.message);
	} else {
		f.run_uuid = made;
		memcpy(s.last_run, made, sizeof s.last_run);
		s.fires++;
		ty->n[FO_RUN]++;
	}
	if (last >= boot_ms)
		ty->lag[ty->nlag++] = f.at_ms - last;
	s.last_fire_ms = last;
	s.next_fire_ms = next == -1 ? 0 : next;
	if (next == -1)
		log_warnx("schedule=%s ws=%s fires no more", s.uuid, s.ws);
	if ((rc = schedule_save(t, &s, &old)) == 0)
		rc = schedule_publish(t, &f);
out:
	schedule_free(&s);
	return rc;
}

static void	fire_done(void *);

/* Fire what is due, up to FIRE_BATCH schedules. */
static int
fire_apply(struct op *op, struct txn *t)
{
	struct fire_op	*o = (struct fire_op *)op;
	struct due	*d = NULL;
	size_t		 n, i;
	int64_t		 now = now_ms();
	int		 rc;

	memset(o->tally.n, 0, sizeof o->tally.n);
	o->tally.nlag = 0;
	o->more = 0;
	if (loop_stopping())
		return 0;	/* due at the next start, as missed */
	if ((rc = collect(t, now, &d, FIRE_BATCH, &n)) == 0) {
		o->more = n == FIRE_BATCH;
		free(o->tally.lag);
		o->tally.lag = xcalloc(n, sizeof *o->tally.lag);
		for (i = 0; i < n && rc == 0; i++)
			rc = fire_one(t, &d[i], now, &o->tally);
	}
	free(d);
	if (rc == 0)
		txn_defer(t, fire_done, o, NULL);
	return rc;
}

/* Committed: the metrics, then the rest of what is due, or the timer. */
static void
fire_done(void *arg)
{
	struct fire_op	*o = arg;
	size_t		 i;
	int		 k;

	for (k = 0; k < FO__COUNT; k++)
		if (o->tally.n[k] != 0)
			metrics_fire(k, o->tally.n[k]);
	for (i = 0; i < o->tally.nlag; i++)
		metrics_fire_lag(o->tally.lag[i]);
	op_pending = 0;
	if (o->more)
		fire_submit();
	else
		arm();
}

static void
fire_free(struct op *op)
{
	struct fire_op	*o = (struct fire_op *)op;

	free(o->tally.lag);
	free(o);
}

/* A fire op could not commit: it is tried again in a second. */
static void
fire_fail(struct op *op, int rc)
{
	log_warnx("schedules: fires not stored: %s; retrying",
	    mdb_strerror(rc));
	later_retry(op);
}

static void
fire_submit(void)
{
	struct fire_op	*o;

	if (op_pending)
		return;
	op_pending = 1;
	o = xcalloc(1, sizeof *o);
	o->op.apply = fire_apply;
	o->op.fail = fire_fail;
	o->op.free = fire_free;
	store_submit(&o->op);
}

/* ------------------------------------------------------------ life */

/*
 * Start firing (after recovery): fires due before now were missed while
 * batchd was down.
 */
void
schedfire_init(void)
{
	boot_ms = now_ms();
	timer = evtimer_new(base, on_timer, NULL);
	arm_ev = event_new(base, -1, 0, on_arm, NULL);
	arm();
}

/* Shutdown: the timer goes; what is due fires at the next start. */
void
schedfire_free(void)
{
	if (timer != NULL)
		event_free(timer);
	if (arm_ev != NULL)
		event_free(arm_ev);
	timer = arm_ev = NULL;
	tz_free_all();
}
