/*
 * ha-snap.c: snapshots of the partition's state, so that its log stream
 * does not grow without bound (ha = on).
 *
 * Every ha_snapshot_every messages of the log the leader's HA thread
 * (ha-js.c) writes its last checkpoint whole (store_dump(): 'P' records in
 * the redo log's format) to the stream {ha_stream}_{p}_SNAP: parts of at
 * most a payload, each with the snapshot's id (Batchd-Snap), then an end
 * message with the log position the snapshot holds (Batchd-Snap-End: its
 * meta ha_seq). Then the older snapshots are purged, and the log up to the
 * previous snapshot's position: a standby less than one interval behind
 * never misses a message, and one further behind (or starting empty)
 * loads the newest snapshot and follows the log from after it.
 *
 * HA thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "ha-int.h"

#define SNAP_HEADER	"Batchd-Snap"		/* the snapshot's id */
#define END_HEADER	"Batchd-Snap-End"	/* its log position */

struct snapw {
	jsCtx		*js;
	const char	*subj;
	uint64_t	 id;
	uint64_t	 first;		/* the stream's seq of its first part */
	uint64_t	 pos;		/* meta ha_seq, as the records go */
	size_t		 max;
};

static uint64_t		 purged_to;	/* the previous snapshot's position */

/* A record of the dump: is it the position (meta ha_seq)? */
static int
find_pos(int type, int db, MDB_val *k, MDB_val *v, void *arg)
{
	struct snapw	*w = arg;

	if (type == 'P' && db == DB_META &&
	    k->mv_size == sizeof HA_SEQ_KEY - 1 &&
	    memcmp(k->mv_data, HA_SEQ_KEY, k->mv_size) == 0 && v->mv_size == 8)
		w->pos = be64_get(v->mv_data);
	return 0;
}

static int
publish(struct snapw *w, const uint8_t *p, size_t len, const char *hdr,
    const char *val)
{
	jsPubAck	*pa = NULL;
	jsErrCode	 jerr = 0;
	natsMsg		*m = NULL;
	char		 id[32];
	natsStatus	 s;

	snprintf(id, sizeof id, "%016" PRIx64, w->id);
	if (natsMsg_Create(&m, w->subj, NULL, (const char *)p, (int)len) !=
	    NATS_OK)
		return ENOMEM;
	natsMsgHeader_Set(m, SNAP_HEADER, id);
	if (hdr != NULL)
		natsMsgHeader_Set(m, hdr, val);
	s = js_PublishMsg(&pa, w->js, m, NULL, &jerr);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		log_warnx("ha: snapshot: publishing: %s (%d)",
		    natsStatus_GetText(s), (int)jerr);
		return EIO;
	}
	if (w->first == 0)
		w->first = pa->Sequence;
	jsPubAck_Destroy(pa);
	return 0;
}

/* A piece of the dump: its parts published. */
static int
piece(const uint8_t *p, size_t len, void *arg)
{
	struct snapw	*w = arg;
	size_t		 off, n;
	int		 rc;

	redo_parse(p, len, find_pos, w);
	for (off = 0; off < len; off += n) {
		n = len - off < w->max ? len - off : w->max;
		if ((rc = publish(w, p + off, n, NULL, NULL)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Write a snapshot of the last checkpoint, then purge what it makes
 * unneeded, if this node still leads (leading()) when it is whole. 0, or
 * -1 (logged; the next one tries again).
 */
int
ha_snap_write(jsCtx *js, const char *snap_stream, const char *snap_subj,
    const char *log_stream, size_t max, int (*leading)(void))
{
	struct snapw	 w = { js, snap_subj, 0, 0, 0, max };
	jsOptions	 o;
	jsErrCode	 jerr = 0;
	char		 end[32];

	if (getrandom(&w.id, sizeof w.id, 0) != sizeof w.id)
		w.id = (uint64_t)now_ms();
	if (store_dump(max, piece, &w) != 0 || w.pos == 0)
		return -1;
	snprintf(end, sizeof end, "%" PRIu64, w.pos);
	/* A leader deposed meanwhile purges nothing: a newer leader's
	 * snapshot may be there. */
	if (!leading() || publish(&w, NULL, 0, END_HEADER, end) != 0)
		return -1;
	jsOptions_Init(&o);
	o.Stream.Purge.Sequence = w.first;
	if (js_PurgeStream(js, snap_stream, &o, &jerr) != NATS_OK)
		log_warnx("ha: snapshot: purging older ones (%d)", (int)jerr);
	if (purged_to != 0) {
		jsOptions_Init(&o);
		o.Stream.Purge.Sequence = purged_to + 1;
		if (js_PurgeStream(js, log_stream, &o, &jerr) != NATS_OK)
			log_warnx("ha: snapshot: purging the log (%d)",
			    (int)jerr);
	}
	log_info("ha: snapshot at %" PRIu64 " written; the log kept from %"
	    PRIu64, w.pos, purged_to + 1);
	purged_to = w.pos;
	return 0;
}

/*
 * A standby with nothing applied whose log starts later: read the newest
 * whole snapshot, its records into *data (the caller's, *len bytes). Its
 * position, or 0 (none whole yet: try again later).
 */
uint64_t
ha_snap_load(jsCtx *js, const char *snap_stream, const char *snap_subj,
    uint8_t **data, size_t *len)
{
	jsSubOptions		 so;
	natsSubscription	*sub = NULL;
	natsMsg			*m;
	jsErrCode		 jerr = 0;
	struct buf		 b = { 0 };
	const char		*id, *end;
	char			 cur[32] = "";
	uint64_t		 pos = 0;

	jsSubOptions_Init(&so);
	so.Stream = snap_stream;
	so.Ordered = true;
	if (js_SubscribeSync(&sub, js, snap_subj, NULL, &so, &jerr) !=
	    NATS_OK)
		return 0;
	while (pos == 0 &&
	    natsSubscription_NextMsg(&m, sub, 2000) == NATS_OK) {
		if (natsMsgHeader_Get(m, SNAP_HEADER, &id) != NATS_OK) {
			msg_free(m);
			continue;
		}
		if (strcmp(id, cur) != 0) {	/* a newer snapshot starts */
			snprintf(cur, sizeof cur, "%s", id);
			b.len = 0;
		}
		if (natsMsgHeader_Get(m, END_HEADER, &end) == NATS_OK)
			pos = strtoull(end, NULL, 10);
		else
			buf_add(&b, natsMsg_GetData(m),
			    (size_t)natsMsg_GetDataLength(m));
		msg_free(m);
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	if (pos != 0) {
		log_info("ha: snapshot at %" PRIu64 " read (%zu bytes)", pos,
		    b.len);
		*data = b.p;
		*len = b.len;
	} else
		buf_free(&b);
	return pos;
}
