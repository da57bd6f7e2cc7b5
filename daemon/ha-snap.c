/*
 * ha-snap.c: snapshots of the partition's state, so that its log stream
 * does not grow without bound (ha = on).
 *
 * Every ha_snapshot_every messages of the log the leader's HA thread
 * (ha-js.c) writes its last checkpoint whole (store_dump(): 'P' records in
 * the redo log's format) to the stream {ha_stream}_{p}_SNAP: parts of at
 * most a payload, each with the snapshot's id (Batchd-Snap) and its number
 * (Batchd-Snap-Part, from 1), then an end message with the log position
 * the snapshot holds (Batchd-Snap-End: its meta ha_seq). Then the older
 * snapshots are purged, and the log up to the previous snapshot's
 * position: a standby less than one interval behind never misses a
 * message, and one further behind (or starting empty) loads the newest
 * snapshot and follows the log from after it.
 *
 * A writer deposed mid-snapshot (its lease ran out while the thread
 * wrote) may leave parts behind, even among a newer leader's, or end a
 * snapshot the newer leader's have overtaken. So a writer stops at the
 * first part published while it no longer leads, or that is not right
 * after its previous part (each expects the sequence of the one before);
 * and a reader takes only a snapshot whose parts came one after the
 * other, numbered from 1 to its end, and of those the newest that the log
 * still follows on from.
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
#define PART_HEADER	"Batchd-Snap-Part"	/* its parts' number */
#define END_HEADER	"Batchd-Snap-End"	/* its log position */

struct snapw {
	jsCtx		*js;
	const char	*subj;
	uint64_t	 id;
	uint64_t	 first;		/* the stream's seq of its first part */
	uint64_t	 prev;		/* of its last part so far */
	unsigned	 part;		/* parts so far */
	uint64_t	 pos;		/* meta ha_seq, as the records go */
	size_t		 max;
	int		(*leading)(void);
};

/* A snapshot being read (ha_snap_load()). */
struct snapr {
	char		 id[32];	/* "": none, or broken */
	unsigned	 part;		/* its parts so far */
	struct buf	 b;
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

/* Publish the snapshot's next part (hdr: val with it, for its end).
 * 0, or an errno: this node no longer leads, or another wrote between. */
static int
publish(struct snapw *w, const uint8_t *p, size_t len, const char *hdr,
    const char *val)
{
	jsPubOptions	 po;
	jsPubAck	*pa = NULL;
	jsErrCode	 jerr = 0;
	natsMsg		*m = NULL;
	char		 id[32], part[16];
	natsStatus	 s;

	if (!w->leading())
		return ECANCELED;
	snprintf(id, sizeof id, "%016" PRIx64, w->id);
	snprintf(part, sizeof part, "%u", w->part + 1);
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = w->prev;	/* 0 (the first): none */
	if (natsMsg_Create(&m, w->subj, NULL, (const char *)p, (int)len) !=
	    NATS_OK)
		return ENOMEM;
	natsMsgHeader_Set(m, SNAP_HEADER, id);
	natsMsgHeader_Set(m, PART_HEADER, part);
	if (hdr != NULL)
		natsMsgHeader_Set(m, hdr, val);
	s = js_PublishMsg(&pa, w->js, m, &po, &jerr);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		log_warnx("ha: snapshot: publishing part %s: %s (%d)", part,
		    jerr == WRONG_LAST_SEQ ? "another wrote between its parts" :
		    natsStatus_GetText(s), (int)jerr);
		return EIO;
	}
	if (w->first == 0)
		w->first = pa->Sequence;
	w->prev = pa->Sequence;
	w->part++;
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
 * Write a snapshot of the last checkpoint, each part while this node
 * still leads (leading()), then purge what it makes unneeded. 0, or -1
 * (logged; the next one tries again).
 */
int
ha_snap_write(jsCtx *js, const char *snap_stream, const char *snap_subj,
    const char *log_stream, size_t max, int (*leading)(void))
{
	struct snapw	 w = { js, snap_subj, 0, 0, 0, 0, 0, max, leading };
	jsOptions	 o;
	jsErrCode	 jerr = 0;
	char		 end[32];
	int		 rc;

	if (getrandom(&w.id, sizeof w.id, 0) != sizeof w.id)
		w.id = (uint64_t)now_ms();
	if ((rc = store_dump(max, piece, &w)) == 0 && w.pos != 0) {
		snprintf(end, sizeof end, "%" PRIu64, w.pos);
		/* A leader deposed meanwhile ends nothing and purges
		 * nothing: a newer leader's snapshot may be there. */
		rc = publish(&w, NULL, 0, END_HEADER, end);
	}
	if (rc != 0 || w.pos == 0) {
		log_warnx("ha: snapshot not written: %s", rc == ECANCELED ?
		    "this node no longer leads" : rc != 0 ? mdb_strerror(rc) :
		    "the checkpoint has no position");
		return -1;
	}
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
 * A message of the snapshot stream read: the part that follows r's, or
 * the first of another (r starts again), or neither (r is broken until
 * the next first part). The end's position if it ends r whole, else 0.
 */
static uint64_t
snap_read(struct snapr *r, natsMsg *m)
{
	const char	*id = NULL, *part, *end;
	unsigned long	 k;

	if (natsMsgHeader_Get(m, SNAP_HEADER, &id) != NATS_OK ||
	    natsMsgHeader_Get(m, PART_HEADER, &part) != NATS_OK)
		k = 0;
	else
		k = strtoul(part, NULL, 10);
	if (k == 1) {
		snprintf(r->id, sizeof r->id, "%s", id);
		r->part = 0;
		r->b.len = 0;
	} else if (r->id[0] == '\0' || k != r->part + 1 ||
	    strcmp(id, r->id) != 0) {
		r->id[0] = '\0';
		return 0;
	}
	r->part++;
	if (natsMsgHeader_Get(m, END_HEADER, &end) == NATS_OK) {
		r->id[0] = '\0';
		return strtoull(end, NULL, 10);
	}
	buf_add(&r->b, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	return 0;
}

/*
 * A standby with nothing applied whose log starts at first, later than 1:
 * read the newest whole snapshot the log follows on from (its position at
 * least first - 1), its records into *data (the caller's, *len bytes).
 * Its position, or 0 (none yet: try again later).
 */
uint64_t
ha_snap_load(jsCtx *js, const char *snap_stream, const char *snap_subj,
    uint64_t first, uint8_t **data, size_t *len)
{
	jsSubOptions		 so;
	natsSubscription	*sub = NULL;
	natsMsg			*m;
	jsMsgMetaData		*md;
	jsErrCode		 jerr = 0;
	struct snapr		 r = { .id = "" };
	struct buf		 best = { 0 }, t;
	uint64_t		 pos = 0, at, left = 1;

	jsSubOptions_Init(&so);
	so.Stream = snap_stream;
	so.Ordered = true;
	if (js_SubscribeSync(&sub, js, snap_subj, NULL, &so, &jerr) !=
	    NATS_OK)
		return 0;
	/* To the last message there was: none pending after it. */
	while (left > 0 &&
	    natsSubscription_NextMsg(&m, sub, 2000) == NATS_OK) {
		md = NULL;
		if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
			left = md->NumPending;
			jsMsgMetaData_Destroy(md);
		}
		if ((at = snap_read(&r, m)) != 0 && at + 1 >= first &&
		    at > pos) {
			pos = at;
			t = best;
			best = r.b;
			r.b = t;
		} else if (at != 0)
			log_warnx("ha: snapshot at %" PRIu64 " passed over: %s",
			    at, at + 1 < first ? "the log starts later" :
			    "a newer one is there");
		msg_free(m);
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	buf_free(&r.b);
	if (pos != 0) {
		log_info("ha: snapshot at %" PRIu64 " read (%zu bytes)", pos,
		    best.len);
		*data = best.p;
		*len = best.len;
	} else
		buf_free(&best);
	return pos;
}
