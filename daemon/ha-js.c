/*
 * ha-js.c: high availability's side on JetStream (ha = on): this node's
 * own connection, the leader's lease, and the partition's log stream.
 *
 * The lease is the key leader.{p} of the KV bucket {ha_stream}, whose
 * entries live ha_lease_s: a node that creates it leads; the leader
 * renews it every third of the lease with the revision it last wrote.
 * The lease is this node's until the renewal's send plus the lease, less
 * a fifth for clocks and scheduling (lease_until, on the monotonic clock,
 * which runs on while the process is stopped): past it, nothing is done.
 *
 * The stream {ha_stream}_{p} (subject {prefix}.ha.{ha_stream}.{p}.log)
 * holds the partition's commits: each turn's
 * records (redo.c's format) as one message, or parts of at most a
 * payload's size, each published at the sequence it expects
 * (Nats-Expected-Last-Sequence) with an id of its own
 * (Nats-Msg-Id): a deposed leader cannot append, and a publication
 * repeated after a timeout is kept once. The loop thread publishes
 * (ha_js_publish(), synchronous, from the turn's commit: the replies wait
 * for it as they wait for the redo log's sync).
 *
 * A thread of its own does the rest, since cnats's JetStream and KV calls
 * are requests: it connects (again and again), makes the stream and the
 * bucket if missing, follows the stream from the position the node has
 * applied (an ordered consumer) and hands each whole commit to the loop
 * (ha.c), tries for the lease every second while it does not hold it and
 * renews it while it does, and puts this node's state (node.{name}) for
 * batchctl status. What it tells the loop is queued under mtx and the
 * loop woken (the callback ha_js_start() was given).
 */
#include <sys/syscall.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"
#include "ha-int.h"

#define PART_HEADER	"Batchd-Part"		/* "i/n" */
#define PUB_WAIT_MS	2000
#define TICK_MS		200
#define HEARTBEAT_MS	1000			/* the ordered consumer's */

char			**batchd_argv;	/* main's: ha_js_abdicate() */

static natsConnection	*hc;
static jsCtx		*hjs;
static kvStore		*hkv;
static natsSubscription	*follow;
static pthread_t	 thread;
static int		 thread_on;
static int		 quit;			/* atomic */
static char		 log_subj[256], stream[128], leader_key[64];
static char		 snap_subj[256], snap_stream[160];
static char		 node_key[128];
static uint64_t		 boot;			/* this process's ids */

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static struct ha_item	*items, **items_tail = &items;	/* under mtx */
static struct event	*wake_ev;

/* Shared with the loop thread (atomics). */
static int64_t		 lease_until;	/* mono ms; 0: not ours */
static int		 lead_wanted;	/* the loop leads: stop following */
static int		 lease_held_off;	/* storage fails: no lease */
static uint64_t		 start_seq;	/* follow from here */
static uint64_t		 lag;		/* messages the standby has not */
static int		 role_shown;	/* for node.{name} */
static uint64_t		 applied_shown;
static uint64_t		 lease_rev;	/* thread only */
static int		 snap_wanted;	/* the leader asks for a snapshot */
static pthread_t	 snap_thread;	/* writing one: not the lease's */
static int		 snap_on, snap_done;	/* snap_done: atomic */

static size_t	part_size(void);

/* Loop thread only. */
static uint64_t		 last;		/* the stream's last, as we know */
static uint64_t		 snap_next;	/* a snapshot when last gets here */

/* Tell the loop (any thread). */
static void
ha_push(int type, uint64_t seq, uint8_t *data, size_t len)
{
	struct ha_item	*it;

	it = xcalloc(1, sizeof *it);
	it->type = type;
	it->seq = seq;
	it->data = data;
	it->len = len;
	pthread_mutex_lock(&mtx);
	*items_tail = it;
	items_tail = &it->next;
	pthread_mutex_unlock(&mtx);
	event_active(wake_ev, 0, 0);
}

/* Loop thread: what the thread told, in order; the caller frees each. */
struct ha_item *
ha_js_take(void)
{
	struct ha_item	*l;

	pthread_mutex_lock(&mtx);
	l = items;
	items = NULL;
	items_tail = &items;
	pthread_mutex_unlock(&mtx);
	return l;
}

/* Is the lease ours now (and for a moment more)? */
int
ha_js_lease_valid(void)
{
	return mono_ms() < __atomic_load_n(&lease_until, __ATOMIC_ACQUIRE);
}

/* May this node act (answer, start, publish) now: it leads (ha.c said so,
 * ha_js_show()) within its lease? Always without HA. */
int
ha_may_act(void)
{
	return !cfg->ha || (__atomic_load_n(&role_shown, __ATOMIC_ACQUIRE) &&
	    ha_js_lease_valid());
}

/* Does the turn's commit go to the stream first: from the takeover on
 * (ha_js_lead())? */
int
ha_replicating(void)
{
	return cfg->ha && __atomic_load_n(&lead_wanted, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ thread */

static int
stopping(void)
{
	return __atomic_load_n(&quit, __ATOMIC_ACQUIRE);
}

static void
nap(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A stream of one subject, made if missing; 0 or -1 (logged). */
static int
stream_make(const char *name, const char *subject)
{
	jsStreamConfig	 sc;
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	const char	*subj[1] = { subject };
	natsStatus	 s;

	if (js_GetStreamInfo(&si, hjs, name, NULL, &jerr) != NATS_OK) {
		jsStreamConfig_Init(&sc);
		sc.Name = name;
		sc.Subjects = subj;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = (int64_t)cfg->ha_replicas;
		if ((s = js_AddStream(&si, hjs, &sc, NULL, &jerr)) !=
		    NATS_OK) {
			log_warnx("ha: making stream %s: %s (%d)", name,
			    natsStatus_GetText(s), (int)jerr);
			return -1;
		}
		log_info("ha: stream %s made, %u replicas", name,
		    cfg->ha_replicas);
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

/* The streams and the bucket, made if missing; 0 or -1 (logged). */
static int
setup(void)
{
	kvConfig	 kc;
	natsStatus	 s;

	/* Not connected: each request would wait out its timeout (5 s), and
	 * a shutdown with it. */
	if (natsConnection_Status(hc) != NATS_CONN_STATUS_CONNECTED)
		return -1;
	if (stream_make(stream, log_subj) == -1 ||
	    stream_make(snap_stream, snap_subj) == -1)
		return -1;
	if (hkv == NULL && js_KeyValue(&hkv, hjs, cfg->ha_stream) != NATS_OK) {
		kvConfig_Init(&kc);
		kc.Bucket = cfg->ha_stream;
		kc.History = 1;
		kc.TTL = (int64_t)cfg->ha_lease_s * 1000000000;
		kc.Replicas = (int)cfg->ha_replicas;
		if ((s = js_CreateKeyValue(&hkv, hjs, &kc)) != NATS_OK) {
			log_warnx("ha: making bucket %s: %s", cfg->ha_stream,
			    natsStatus_GetText(s));
			hkv = NULL;
			return -1;
		}
	}
	return 0;
}

/* The log's last sequence (and its first, if first is not NULL); 0 and
 * *ok = 0 if it cannot be read. */
static uint64_t
stream_last(int *ok, uint64_t *first)
{
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	uint64_t	 l = 0;

	*ok = js_GetStreamInfo(&si, hjs, stream, NULL, &jerr) == NATS_OK;
	if (*ok) {
		l = si->State.LastSeq;
		if (first != NULL)
			*first = si->State.FirstSeq;
	}
	jsStreamInfo_Destroy(si);
	return l;
}

/*
 * Before following: a log that starts after what this node needs was
 * compacted (ha-snap.c). With nothing applied, load the newest snapshot
 * and follow from after it; with something, the loop starts this node
 * over empty (HA_GAP). 0 to follow, -1 to try again later.
 */
static int
catch_up(void)
{
	uint64_t	from = __atomic_load_n(&start_seq, __ATOMIC_ACQUIRE);
	uint64_t	first = 0, at, l;
	uint8_t		*data = NULL;
	size_t		 len = 0;
	int		ok;

	l = stream_last(&ok, &first);
	if (!ok)
		return -1;
	if (l == 0 || first <= from)
		return 0;
	if (from > 1) {
		ha_push(HA_GAP, first, NULL, 0);
		return -1;
	}
	if ((at = ha_snap_load(hjs, snap_stream, snap_subj, first, &data,
	    &len)) == 0)
		return -1;
	ha_push(HA_FRAME, at, data, len);	/* the loop frees it */
	__atomic_store_n(&start_seq, at + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Follow the stream from start_seq (an ordered consumer). */
static int
follow_start(void)
{
	jsSubOptions	 so;
	jsErrCode	 jerr = 0;
	natsStatus	 s;
	uint64_t	 from = __atomic_load_n(&start_seq, __ATOMIC_ACQUIRE);

	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Ordered = true;
	/*
	 * The consumer may be lost (its server restarted): cnats makes it
	 * again, from after the last message it delivered, once heartbeats
	 * are missed, which at its default of 5 s took up to 17 s here. A
	 * standby that won the lease meanwhile would wait as long for the
	 * stream's last. A heartbeat a second.
	 */
	so.Config.Heartbeat = (int64_t)HEARTBEAT_MS * 1000000;
	if (from > 1) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = from;
	}
	if ((s = js_SubscribeSync(&follow, hjs, log_subj, NULL, &so,
	    &jerr)) != NATS_OK) {
		log_warnx("ha: following %s from %" PRIu64 ": %s (%d)", stream,
		    from, natsStatus_GetText(s), (int)jerr);
		follow = NULL;
		return -1;
	}
	return 0;
}

/* One message of the stream: its part of a commit; whole commits go to
 * the loop, and every message's sequence (the position). */
static void
follow_msg(natsMsg *m, struct buf *acc)
{
	jsMsgMetaData	*md = NULL;
	const char	*v = NULL;
	unsigned	 i = 1, n = 1;
	uint8_t		*data = NULL;
	uint64_t	 seq;

	if (natsMsg_GetMetaData(&md, m) != NATS_OK) {
		msg_free(m);
		return;
	}
	seq = md->Sequence.Stream;
	if (seq != __atomic_load_n(&start_seq, __ATOMIC_ACQUIRE)) {
		/* Compacted past what this node had: start over. */
		jsMsgMetaData_Destroy(md);
		msg_free(m);
		ha_push(HA_GAP, seq, NULL, 0);
		return;
	}
	__atomic_store_n(&lag, md->NumPending, __ATOMIC_RELEASE);
	__atomic_store_n(&start_seq, seq + 1, __ATOMIC_RELEASE);
	jsMsgMetaData_Destroy(md);
	if (natsMsgHeader_Get(m, PART_HEADER, &v) == NATS_OK &&
	    (sscanf(v, "%u/%u", &i, &n) != 2 || i == 0 || i > n))
		i = n = 0;		/* not ours: skipped */
	if (i == 1)
		acc->len = 0;		/* a commit left unfinished ends */
	if (i != 0)
		buf_add(acc, natsMsg_GetData(m),
		    (size_t)natsMsg_GetDataLength(m));
	if (i != 0 && i == n) {
		data = xmalloc(acc->len + 1);
		memcpy(data, acc->p, acc->len);
		ha_push(HA_FRAME, seq, data, acc->len);
		acc->len = 0;
	} else
		ha_push(HA_POS, seq, NULL, 0);
	msg_free(m);
}

/*
 * Try for the lease: create the key. One there, even with this node's
 * name (this process before an exec, or another given the same name), is
 * left to run out: nothing tells which process wrote it. On success the
 * loop hears HA_WON with the stream's last sequence.
 */
static void
lease_try(void)
{
	uint64_t	 rev = 0, l;
	int64_t		 t0 = mono_ms();
	int		 ok;

	if (kvStore_CreateString(&rev, hkv, leader_key, cfg->ha_node) !=
	    NATS_OK)
		return;
	l = stream_last(&ok, NULL);
	if (!ok) {
		kvStore_Delete(hkv, leader_key);
		return;
	}
	lease_rev = rev;
	__atomic_store_n(&lease_until, t0 + cfg->ha_lease_s * 800,
	    __ATOMIC_RELEASE);
	log_info("ha: lease %s won; the stream is at %" PRIu64, leader_key,
	    l);
	ha_push(HA_WON, l, NULL, 0);
}

/* Renew the lease; lost: the loop hears HA_LOST. */
static void
lease_renew(void)
{
	kvEntry		*e = NULL;
	uint64_t	 rev = 0;
	int64_t		 t0 = mono_ms();
	natsStatus	 s;
	int		 ours;

	if (kvStore_UpdateString(&rev, hkv, leader_key, cfg->ha_node,
	    lease_rev) == NATS_OK) {
		lease_rev = rev;
		__atomic_store_n(&lease_until, t0 + cfg->ha_lease_s * 800,
		    __ATOMIC_RELEASE);
		return;
	}
	/* A timeout may have written it: ours still, but not extended. */
	if ((s = kvStore_Get(&e, hkv, leader_key)) == NATS_OK) {
		ours = strcmp(kvEntry_ValueString(e), cfg->ha_node) == 0;
		if (ours)
			lease_rev = kvEntry_Revision(e);
		kvEntry_Destroy(e);
		if (ours)
			return;
	} else if (s != NATS_NOT_FOUND && ha_js_lease_valid())
		return;		/* cannot tell: it runs out by itself */
	__atomic_store_n(&lease_until, 0, __ATOMIC_RELEASE);
	lease_rev = 0;
	log_warnx("ha: lease %s lost", leader_key);
	ha_push(HA_LOST, 0, NULL, 0);
}

/* This node's state for batchctl status (node.{name}). */
static void
node_put(void)
{
	char	v[512];

	snprintf(v, sizeof v, "{\"node\":\"%s\",\"partitions\":[{\"partition\""
	    ":%u,\"role\":\"%s\",\"applied\":%" PRIu64 "}],\"failovers\":0,"
	    "\"updated_ms\":%" PRId64 "}", cfg->ha_node, cfg->partition,
	    __atomic_load_n(&role_shown, __ATOMIC_ACQUIRE) ? "leader" :
	    "standby", __atomic_load_n(&applied_shown, __ATOMIC_ACQUIRE),
	    now_ms());
	kvStore_PutString(NULL, hkv, node_key, v);
}

/* A thread of its own writes a snapshot: a large one must not hold up
 * the lease's renewal. */
static void *
snap_run(void *arg)
{
	(void)arg;
	ha_snap_write(hjs, snap_stream, snap_subj, stream, part_size(),
	    ha_js_lease_valid);
	__atomic_store_n(&snap_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* HA thread: start a snapshot if one is asked for and none is going. */
static void
snap_start(void)
{
	if (snap_on && __atomic_load_n(&snap_done, __ATOMIC_ACQUIRE)) {
		pthread_join(snap_thread, NULL);
		snap_on = 0;
	}
	if (snap_on || !__atomic_exchange_n(&snap_wanted, 0, __ATOMIC_ACQ_REL))
		return;
	__atomic_store_n(&snap_done, 0, __ATOMIC_RELEASE);
	if (pthread_create(&snap_thread, NULL, snap_run, NULL) == 0)
		snap_on = 1;
}

/* The thread: connected and set up, follow the stream until the loop
 * leads, and try for the lease, or renew it while it is ours. */
static void *
run(void *arg)
{
	struct buf	 acc = { 0 };
	natsMsg		*m;
	int64_t		 next_lease = 0, next_put = 0, t;
	int		 period = (int)cfg->ha_lease_s * 1000 / 3;

	(void)arg;
	while (!stopping() && setup() == -1)
		nap(1000);
	while (!stopping()) {
		t = mono_ms();
		if (t >= next_lease) {
			if (lease_rev != 0)
				lease_renew();
			else if (!__atomic_load_n(&lease_held_off,
			    __ATOMIC_ACQUIRE))
				lease_try();
			next_lease = t + (lease_rev != 0 ? period : 1000);
		}
		if (t >= next_put) {
			node_put();
			next_put = t + period;
		}
		if (__atomic_load_n(&lead_wanted, __ATOMIC_ACQUIRE)) {
			if (follow != NULL) {
				natsSubscription_Unsubscribe(follow);
				natsSubscription_Destroy(follow);
				follow = NULL;
			}
			nap(TICK_MS);
			snap_start();
		} else if (follow == NULL && (catch_up() == -1 ||
		    follow_start() == -1))
			nap(1000);
		else if (natsSubscription_NextMsg(&m, follow, TICK_MS) ==
		    NATS_OK)
			follow_msg(m, &acc);
	}
	buf_free(&acc);
	if (snap_on)
		pthread_join(snap_thread, NULL);
	snap_on = 0;
	return NULL;
}

/* ------------------------------------------------------------ loop */

/* cnats: connected at last (NATS was away at start); the thread's set-up,
 * which retries, notices by itself. With a callback, Connect() returns at
 * once instead of waiting for the servers. */
static void
on_connected(natsConnection *c, void *arg)
{
	(void)c;
	(void)arg;
}

/*
 * Connect (in the background while NATS is away) and start the thread,
 * which follows the stream from seq + 1 (what this node has applied);
 * wake is activated whenever it has something to tell (ha_js_take()).
 */
void
ha_js_start(uint64_t seq, struct event *wake)
{
	natsOptions	*o = NULL;
	natsStatus	 s;
	uint64_t	 r;

	wake_ev = wake;
	start_seq = seq + 1;
	last = seq;
	applied_shown = seq;
	snprintf(log_subj, sizeof log_subj, "%s.ha.%s.%u.log",
	    cfg->subject_prefix, cfg->ha_stream, cfg->partition);
	snprintf(stream, sizeof stream, "%s_%u", cfg->ha_stream,
	    cfg->partition);
	snprintf(snap_subj, sizeof snap_subj, "%s.ha.%s.%u.snap",
	    cfg->subject_prefix, cfg->ha_stream, cfg->partition);
	snprintf(snap_stream, sizeof snap_stream, "%s_%u_SNAP",
	    cfg->ha_stream, cfg->partition);
	snprintf(leader_key, sizeof leader_key, "leader.%u", cfg->partition);
	snprintf(node_key, sizeof node_key, "node.%s.%u", cfg->ha_node,
	    cfg->partition);
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint64_t)getpid() << 32 ^ (uint64_t)now_ms();
	boot = r;
	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetName(o, "batchd-ha") != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 250) != NATS_OK ||
	    natsOptions_SetRetryOnFailedConnect(o, true, on_connected,
	    NULL) != NATS_OK ||
	    natsOptions_SetSendAsap(o, true) != NATS_OK)
		fatal_code(EXIT_BUS, "ha: nats options");
	nats_options(o);
	s = natsConnection_Connect(&hc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
		fatal_code(EXIT_BUS, "ha: nats %s: %s", cfg->nats_url,
		    natsStatus_GetText(s));
	if (natsConnection_JetStream(&hjs, hc, NULL) != NATS_OK)
		fatal_code(EXIT_BUS, "ha: jetstream context");
	if (pthread_create(&thread, NULL, run, NULL) != 0)
		fatal_code(EXIT_SOFTWARE, "ha: thread");
	thread_on = 1;
}

/* The stream's last sequence as the leader knows it. */
uint64_t
ha_js_position(void)
{
	return last;
}

/* The loop leads from the stream's position seq: stop following. */
void
ha_js_lead(uint64_t seq)
{
	last = seq;
	snap_next = seq + cfg->ha_snapshot_every;
	__atomic_store_n(&lead_wanted, 1, __ATOMIC_RELEASE);
}

/* A node whose storage fails (on) could not take over: it tries for the
 * lease again once it has applied a commit (off). */
void
ha_js_hold(int on)
{
	__atomic_store_n(&lease_held_off, on, __ATOMIC_RELEASE);
}

/* For node.{name}: the role and what this node has applied. */
void
ha_js_show(int leader, uint64_t applied)
{
	__atomic_store_n(&role_shown, leader, __ATOMIC_RELEASE);
	__atomic_store_n(&applied_shown, applied, __ATOMIC_RELEASE);
}

uint64_t
ha_js_lag(void)
{
	return __atomic_load_n(&lead_wanted, __ATOMIC_ACQUIRE) ? 0 :
	    __atomic_load_n(&lag, __ATOMIC_ACQUIRE);
}

/* A message's data at most: the server's max_payload less room for the
 * headers. */
static size_t
part_size(void)
{
	int64_t	mp = natsConnection_GetMaxPayload(hc);

	return mp > 4096 ? (size_t)mp - 1024 : 1u << 19;
}

/* How many messages a commit of len bytes takes. */
static size_t
parts(size_t len)
{
	return len == 0 ? 1 : (len + part_size() - 1) / part_size();
}

/* The sequence the last part of a commit of len bytes will have. */
uint64_t
ha_js_seq_after(size_t len)
{
	return last + parts(len);
}

/* Publish one part at the position after last; 0, or -1: deposed (or
 * the lease ran out trying). */
static int
publish_part(const uint8_t *p, size_t len, unsigned i, unsigned n)
{
	jsPubOptions	 po;
	jsPubAck	*pa = NULL;
	jsErrCode	 jerr;
	natsMsg		*m = NULL;
	natsStatus	 s;
	char		 id[64], part[32];

	snprintf(id, sizeof id, "%s.%016" PRIx64 ".%" PRIu64, cfg->ha_node,
	    boot, last + 1);
	snprintf(part, sizeof part, "%u/%u", i, n);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	po.ExpectLastSeq = last;	/* 0: none (an empty stream) */
	po.MaxWait = PUB_WAIT_MS;
	while (ha_js_lease_valid()) {
		if (natsMsg_Create(&m, log_subj, NULL, (const char *)p,
		    (int)len) != NATS_OK)
			return -1;
		natsMsgHeader_Set(m, PART_HEADER, part);
		jerr = 0;
		s = js_PublishMsg(&pa, hjs, m, &po, &jerr);
		natsMsg_Destroy(m);
		if (s == NATS_OK) {
			last = pa->Sequence;
			jsPubAck_Destroy(pa);
			return 0;
		}
		if (jerr == WRONG_LAST_SEQ) {
			log_warnx("ha: the stream moved past %" PRIu64
			    ": another node leads", last);
			return -1;
		}
		log_warnx("ha: publishing at %" PRIu64 ": %s (%d); again",
		    last + 1, natsStatus_GetText(s), (int)jerr);
		nap(50);
	}
	return -1;
}

/*
 * Loop thread, from the turn's commit: append its records to the stream
 * at the position expected, and still hold the lease after. 0, or -1:
 * this node may no longer lead (the caller abdicates).
 */
int
ha_js_publish(const uint8_t *p, size_t len)
{
	size_t		 n = parts(len), i, sz;

	for (i = 0; i < n; i++) {
		sz = len - i * part_size() < part_size() ?
		    len - i * part_size() : part_size();
		if (publish_part(p + i * part_size(), sz, i + 1, n) == -1)
			return -1;
	}
	__atomic_store_n(&applied_shown, last, __ATOMIC_RELEASE);
	if (last >= snap_next) {
		snap_next = last + cfg->ha_snapshot_every;
		__atomic_store_n(&snap_wanted, 1, __ATOMIC_RELEASE);
	}
	return ha_js_lease_valid() ? 0 : -1;
}

/*
 * Give up leading or following for good and start again as a standby:
 * exec this program anew (same pid, so the attempts' shims stay its
 * children), every descriptor closed. Never returns.
 */
void
ha_js_abdicate(const char *why)
{
	log_warnx("ha: %s; starting again as a standby", why);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	execv("/proc/self/exe", batchd_argv);
	fatal_code(EXIT_SOFTWARE, "ha: exec: %s", strerror(errno));
}

/* Stop the thread and let the lease go (a leader's clean exit). */
void
ha_js_stop(void)
{
	if (!thread_on)
		return;
	__atomic_store_n(&quit, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	thread_on = 0;
	if (ha_js_lease_valid() && hkv != NULL)
		kvStore_Delete(hkv, leader_key);
	if (follow != NULL)
		natsSubscription_Destroy(follow);
	follow = NULL;
	if (hkv != NULL)
		kvStore_Destroy(hkv);
	hkv = NULL;
	jsCtx_Destroy(hjs);
	hjs = NULL;
	natsConnection_Destroy(hc);
	hc = NULL;
}
