/*
 * schedule.c: schedules, stored: load and save one with its indexes,
 * plan its next fire, start a run for it, publish its fires.
 *
 * A schedule's record is in DB_SCHEDULES, its name in DB_SCHEDULE_NAMES
 * ("{ws}/{name}", unique in the workspace) and two kinds of entries in
 * DB_SCHEDIDX:
 *   't' next fire (8 bytes, big-endian ms) uuid   while not paused: the
 *       time-ordered index the one timer of schedfire.c walks from its
 *       head; nothing scans every schedule
 *   'd' job definition uuid, uuid                  the schedules of a
 *       definition, which may not be deleted while one uses it
 * schedule_save() keeps both with the record, in the caller's
 * transaction: a fire's record, its index entry, its run and its event
 * commit together or not at all.
 *
 * A run a schedule starts goes through run.submit's own path
 * (run_submit_request()): the cluster's FIFO and its cap, auto-resume,
 * the workspace's quota. It carries the schedule's uuid and the instant
 * of its fire; runidx.c keeps the schedule's runs ('h') and those not
 * ended ('l', max_concurrent_runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define KEY_TIME	(1 + 8 + UUID_LEN)
#define KEY_DEF		(1 + UUID_LEN + UUID_LEN)

/* The time index's key of uuid firing at ms, into k[KEY_TIME]. */
void
schedule_time_key(uint8_t *k, int64_t ms, const char *uuid)
{
	k[0] = 't';
	be64_put(k + 1, (uint64_t)ms);
	memcpy(k + 9, uuid, UUID_LEN);
}

static void
def_key(uint8_t *k, const char *def, const char *uuid)
{
	k[0] = 'd';
	memcpy(k + 1, def, UUID_LEN);
	memcpy(k + 1 + UUID_LEN, uuid, UUID_LEN);
}

NAMED_KIND(schedule_kind, schedule, struct schedule, "schedule",
    DB_SCHEDULE_NAMES);

/*
 * Load schedule uuid (or, with uuid NULL, the one named name) of ws into
 * s: 0, 0 with e set (not found, or neither given), or an LMDB error.
 */
int
schedule_load(struct txn *t, const char *ws, const char *uuid,
    const char *name, struct schedule *s, struct error *e)
{
	return named_load(t, &schedule_kind, ws, uuid, name, s, e);
}

/*
 * Store s and its index entries; old is the stored schedule it replaces
 * (NULL: a new one, whose name is stored too). 0 or an LMDB error.
 */
int
schedule_save(struct txn *t, const struct schedule *s,
    const struct schedule *old)
{
	uint8_t		 k[KEY_DEF];
	struct buf	 name = { 0 };
	int		 rc;

	if (old != NULL && !old->paused && old->next_fire_ms != 0 &&
	    (s->paused || s->next_fire_ms != old->next_fire_ms)) {
		schedule_time_key(k, old->next_fire_ms, s->uuid);
		if ((rc = store_del(t, DB_SCHEDIDX, k, KEY_TIME)) != 0)
			return rc;
	}
	if (!s->paused && s->next_fire_ms != 0 && (old == NULL ||
	    old->paused || old->next_fire_ms != s->next_fire_ms)) {
		schedule_time_key(k, s->next_fire_ms, s->uuid);
		if ((rc = store_put(t, DB_SCHEDIDX, k, KEY_TIME, "", 0)) != 0)
			return rc;
	}
	if (old != NULL && strcmp(old->def_uuid, s->def_uuid) != 0) {
		def_key(k, old->def_uuid, s->uuid);
		if ((rc = store_del(t, DB_SCHEDIDX, k, KEY_DEF)) != 0)
			return rc;
	}
	if (old == NULL || strcmp(old->def_uuid, s->def_uuid) != 0) {
		def_key(k, s->def_uuid, s->uuid);
		if ((rc = store_put(t, DB_SCHEDIDX, k, KEY_DEF, "", 0)) != 0)
			return rc;
	}
	if (old == NULL) {
		store_name_key(&name, s->ws, s->name);
		rc = store_put(t, DB_SCHEDULE_NAMES, name.p, name.len,
		    s->uuid, UUID_LEN);
		buf_free(&name);
		if (rc != 0 || (rc = store_ws_count(t, "schedules", s->ws, 1,
		    NULL)) != 0)
			return rc;
	}
	return store_put_schedule(t, s);
}

/* Delete s, its name and index entries (not its runs). */
int
schedule_remove(struct txn *t, const struct schedule *s)
{
	uint8_t		 k[KEY_DEF];
	struct buf	 name = { 0 };
	int		 rc;

	if (!s->paused && s->next_fire_ms != 0) {
		schedule_time_key(k, s->next_fire_ms, s->uuid);
		if ((rc = store_del(t, DB_SCHEDIDX, k, KEY_TIME)) != 0)
			return rc;
	}
	def_key(k, s->def_uuid, s->uuid);
	store_name_key(&name, s->ws, s->name);
	if ((rc = store_del(t, DB_SCHEDIDX, k, KEY_DEF)) == 0 &&
	    (rc = store_del(t, DB_SCHEDULE_NAMES, name.p, name.len)) == 0 &&
	    (rc = store_ws_count(t, "schedules", s->ws, -1, NULL)) == 0)
		rc = store_del(t, DB_SCHEDULES, s->uuid, UUID_LEN);
	buf_free(&name);
	return rc;
}

/*
 * A schedule that uses definition def: its name into name (len bytes).
 * 0 (one does), MDB_NOTFOUND (none) or an LMDB error.
 */
int
schedule_def_user(struct txn *t, const char *def, char *name, size_t len)
{
	struct schedule	 s;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 pre[1 + UUID_LEN];
	char		 uuid[UUID_LEN + 1];
	int		 rc;

	pre[0] = 'd';
	memcpy(pre + 1, def, UUID_LEN);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_SCHEDIDX),
	    &c)) != 0)
		return rc;
	k.mv_data = pre;
	k.mv_size = sizeof pre;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != KEY_DEF ||
	    memcmp(k.mv_data, pre, sizeof pre) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		snprintf(uuid, sizeof uuid, "%.*s", UUID_LEN,
		    (char *)k.mv_data + 1 + UUID_LEN);
	mdb_cursor_close(c);
	if (rc != 0)
		return rc;
	memset(&s, 0, sizeof s);
	if ((rc = store_get_schedule(t, uuid, &s)) == 0) {
		snprintf(name, len, "%s (%s)", s.name, s.uuid);
		schedule_free(&s);
	}
	return rc;
}

/*
 * The first fire of s after the instant after_ms, or -1: its cron or zone
 * is not valid (err, len bytes, says which and why, as "cron: ..."), or it
 * never fires.
 */
int64_t
schedule_next(const struct schedule *s, int64_t after_ms, char *err,
    size_t len)
{
	/* The last expression parsed: the schedules due in one burst
	 * mostly share theirs. */
	static char	 last[CRON_MAX + 1];
	static struct cron lastc;
	const struct tz	*z;
	char		 why[192], *cause;
	int64_t		 next;

	if (strcmp(s->cron, last) != 0 || last[0] == '\0') {
		if (cron_parse(s->cron, &lastc, why, sizeof why) == -1) {
			last[0] = '\0';
			snprintf(err, len, "cron: '%.64s': %s", s->cron, why);
			return -1;
		}
		snprintf(last, sizeof last, "%s", s->cron);
	}
	if ((z = tz_get(s->tz, &cause)) == NULL) {
		snprintf(err, len, "timezone: %s", cause);
		free(cause);
		return -1;
	}
	if ((next = cron_next(&lastc, z, after_ms)) == -1)
		snprintf(err, len, "cron: '%.64s' never fires in the %d "
		    "years after now", s->cron, 100);
	return next;
}

/*
 * Check s's cron and timezone, and plan its next fire after now:
 * s->next_fire_ms (0 while paused). 0, or -1 with e naming cron or
 * timezone and saying what is wrong.
 */
int
schedule_plan(struct schedule *s, int64_t now, struct error *e)
{
	char	err[320];
	int64_t	next;

	if ((next = schedule_next(s, now, err, sizeof err)) == -1) {
		error_set(e, E_INVALID, strncmp(err, "timezone", 8) == 0 ?
		    "timezone" : "cron", "%s", err);
		return -1;
	}
	s->next_fire_ms = s->paused ? 0 : next;
	return 0;
}

/*
 * Start a run for s, standing for its fire at for_ms: refused (e) when
 * max_concurrent_runs of its runs have not ended, else as run.submit
 * refuses. Its JobRunReply into out (unless NULL), its uuid into made.
 * 0 (e set: nothing changed) or a storage error.
 */
int
schedule_start(struct txn *t, const struct schedule *s, int64_t for_ms,
    struct buf *out, struct error *e, char *made)
{
	struct request	q;
	uint32_t	n;
	int		rc;

	*made = '\0';
	if (s->max_concurrent != 0) {
		if ((rc = runidx_count(t, 'l', s->uuid, s->max_concurrent,
		    &n)) != 0)
			return rc;
		if (n >= s->max_concurrent) {
			error_set(e, E_PRECONDITION, "max_concurrent_runs",
			    "max_concurrent_runs: schedule '%s' has %u runs "
			    "not ended, its limit", s->name, n);
			return 0;
		}
	}
	/* The request borrows the schedule's fields: never freed. */
	memset(&q, 0, sizeof q);
	snprintf(q.ws, sizeof q.ws, "%s", s->ws);
	q.def_uuid = (char *)s->def_uuid;
	q.cluster_uuid = s->cluster_uuid[0] != '\0' ?
	    (char *)s->cluster_uuid : NULL;
	if ((q.has_cluster = s->has_cluster))
		q.cluster = s->cluster;
	if ((q.has_args = s->has_args))
		q.args = s->args != NULL ? s->args : "";
	q.env = s->env;
	q.has_timeout = s->has_timeout;
	q.timeout_s = s->timeout_s;
	q.has_retry = s->has_retry;
	q.retry = s->retry;
	q.sched_uuid = (char *)s->uuid;
	q.scheduled_for_ms = for_ms;
	q.pause_when = s->pause_when_finished && q.cluster_uuid != NULL;
	return run_submit_request(t, &q, out, e, made);
}

/*
 * Put the event of fire f in the outbox, published once t commits. 0 or
 * an LMDB error.
 */
int
schedule_publish(struct txn *t, const struct fire *f)
{
	struct buf	 b = { 0 };
	char		*subject, id[2 * UUID_LEN + 8];
	int		 rc;

	xasprintf(&subject, "%s.v1.%s.schedule_fires.%s", cfg->subject_prefix,
	    f->ws, f->sched_uuid);
	/* JetStream's Nats-Msg-Id: one per fire, and per triggered run. */
	if (f->triggered)
		snprintf(id, sizeof id, "%s:t%s", f->sched_uuid, f->run_uuid);
	else
		snprintf(id, sizeof id, "%s:%lld", f->sched_uuid,
		    (long long)f->scheduled_ms);
	wire_encode_fire(&b, f);
	rc = outbox_put(t, subject, id, b.p, b.len);
	free(subject);
	buf_free(&b);
	return rc;
}
