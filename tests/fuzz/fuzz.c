/*
 * fuzz.c: the libFuzzer harness of batchd's request path, one binary per
 * request type (compiled with -DFUZZ_TARGET="\"run_submit\"" and so on).
 *
 * An input is one request: byte 0 chooses the subject by its low nibble
 * (0-9 workspace "w", 10 a subject with a token too many, 11 workspace "o",
 * 12 an unknown verb, 13 a workspace with a bad character, 14 one too long,
 * 15 "batchd.v2") and, for targets that serve several verbs with one message
 * type, the verb by its high nibble; the rest is the payload (an empty input
 * is byte 0 = 0 and no payload). It goes through api_message() and
 * store_flush_now() exactly as a NATS message would: subject parsing, wire
 * decode and validation, the verb's handler and the state machine, the
 * commit, the deferred effects (the reply, dispatch, exec_start with spawning
 * replaced, retries with no delay) until nothing is left to do.
 *
 * State: LLVMFuzzerInitialize() builds one LMDB in a temporary directory and
 * seeds it through the API (definitions, clusters in every state, runs
 * queued, waiting to retry, failed and cancelled, two workspaces; see
 * seed()). uuid_new() gives the UUIDs of a counter (uuid_new_hook), so
 * the seeded objects have fixed UUIDs (make_seeds.py uses them) and every
 * input runs against the same records: after an input that changed the
 * database, the seeded snapshot is written back. A crash therefore
 * reproduces from its input file alone.
 *
 * What an input must never do, besides crashing or tripping ASan/UBSan
 * (each is abort()ed so libFuzzer keeps the input):
 *   - be answered other than exactly once on its reply subject;
 *   - get a reply that is not a valid *Reply of the verb;
 *   - get an error reply and yet change the database (byte for byte);
 *   - change the database with a read-only verb;
 *   - get INTERNAL or UNAVAILABLE (nothing here is a storage failure), or an
 *     error that names no field;
 *   - be accepted though it is over max_message_bytes, not a valid message,
 *     or carries invalid UTF-8 (a NUL included: protobuf-c hands strings
 *     over NUL-terminated, so the harness measures them by their
 *     allocation), an unknown enum value, a malformed UUID, an over-long
 *     string, page_size over 1000, too many entries or negative time
 *     bounds (the wire checks: INVALID_ARGUMENT expected);
 *   - get a reply holding another workspace's objects, a git token in
 *     clear, invalid UTF-8 or an enum value the proto does not define.
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <uuid/uuid.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"

#ifndef FUZZ_TARGET
#error FUZZ_TARGET must name the target, e.g. -DFUZZ_TARGET='"run_get"'
#endif

#define REPLY		"_INBOX.fuzz"
#define MAX_MESSAGE	4096		/* BATCHD_MAX_MESSAGE_BYTES */
#define QUEUE_CAP	2		/* BATCHD_QUEUE_CAP: "busy" is full */
#define MAP_SIZE	(8u << 20)
#define DRAIN_MAX	1000

struct config	*cfg;

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* ------------------------------------------------------------ targets */

/*
 * Each verb the harness sends: its request and reply messages, and whether
 * it only reads. LLVMFuzzerInitialize() checks the daemon lists each.
 */
static const struct fverb {
	const char				*name;
	const ProtobufCMessageDescriptor	*request;
	const ProtobufCMessageDescriptor	*reply;
	int					 read_only;
} fverbs[] = {
	{ "jobdef.create", &batchd__v1__create_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 0 },
	{ "jobdef.get", &batchd__v1__get_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 1 },
	{ "jobdef.list", &batchd__v1__list_job_definitions_request__descriptor,
	    &batchd__v1__list_job_definitions_reply__descriptor, 1 },
	{ "jobdef.update", &batchd__v1__update_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 0 },
	{ "jobdef.delete", &batchd__v1__delete_job_definition_request__descriptor,
	    &batchd__v1__delete_reply__descriptor, 0 },
	{ "cluster.create", &batchd__v1__create_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.get", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 1 },
	{ "cluster.list", &batchd__v1__list_clusters_request__descriptor,
	    &batchd__v1__list_clusters_reply__descriptor, 1 },
	{ "cluster.pause", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.resume", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.delete", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__delete_reply__descriptor, 0 },
	{ "run.submit", &batchd__v1__submit_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.submit_sql", &batchd__v1__submit_sql_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.get", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 1 },
	{ "run.cancel", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.cancel_all", &batchd__v1__cancel_job_runs_request__descriptor,
	    &batchd__v1__cancel_job_runs_reply__descriptor, 0 },
	{ "run.list", &batchd__v1__list_job_runs_request__descriptor,
	    &batchd__v1__list_job_runs_reply__descriptor, 1 },
	{ "run.logs", &batchd__v1__get_job_run_logs_request__descriptor,
	    &batchd__v1__job_run_logs_reply__descriptor, 1 },
	{ "run.events", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_events_reply__descriptor, 1 },
};

static const struct target {
	const char	*name;
	const char	*verbs[4];	/* chosen by the high nibble of byte 0 */
	int		 nverbs;
} targets[] = {
	{ "jobdef_create", { "jobdef.create" }, 1 },
	{ "jobdef_get", { "jobdef.get" }, 1 },
	{ "jobdef_list", { "jobdef.list" }, 1 },
	{ "jobdef_update", { "jobdef.update" }, 1 },
	{ "jobdef_delete", { "jobdef.delete" }, 1 },
	{ "cluster_create", { "cluster.create" }, 1 },
	{ "cluster_get", { "cluster.get", "cluster.pause", "cluster.resume",
	    "cluster.delete" }, 4 },
	{ "cluster_list", { "cluster.list" }, 1 },
	{ "run_submit", { "run.submit" }, 1 },
	{ "run_submit_sql", { "run.submit_sql" }, 1 },
	{ "run_get", { "run.get", "run.cancel", "run.events" }, 3 },
	{ "run_cancel_all", { "run.cancel_all" }, 1 },
	{ "run_list", { "run.list" }, 1 },
	{ "run_logs", { "run.logs" }, 1 },
};
static const struct target	*target;

/* The harness's verb named name ("run.get"). */
static const struct fverb *
fverb(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof fverbs / sizeof fverbs[0]; i++)
		if (strcmp(fverbs[i].name, name) == 0)
			return &fverbs[i];
	fatalx("the harness knows no verb %s", name);
}

static const struct fverb *
pick_verb(uint8_t sel)
{
	return fverb(target->verbs[(sel >> 4) % target->nverbs]);
}

/* ------------------------------------------------------------ seams */

static uint64_t	uuid_counter;
static uint64_t	seeded_counter;	/* after seeding: where each input starts */

/*
 * uuid_new_hook: UUIDs 00000000-0000-4000-8000-{counter, 12 hex digits},
 * so seeded objects have known UUIDs and inputs replay exactly.
 */
static void
counter_uuid(char *out)
{
	snprintf(out, UUID_LEN + 1, "00000000-0000-4000-8000-%012llx",
	    (unsigned long long)++uuid_counter);
}

/* The UUID the n-th uuid_new() call gives. */
static const char *
seed_uuid(int n)
{
	static char	s[8][UUID_LEN + 1];
	static int	k;
	char		*p = s[k++ % 8];

	snprintf(p, UUID_LEN + 1, "00000000-0000-4000-8000-%012x", n);
	return p;
}

/* What was published during one request. */
static struct {
	uint8_t	*p;
	size_t	 len, cap;
	int	 replies;	/* on REPLY */
	int	 others;	/* anything else (none expected: no NATS) */
} pub;

static void
capture(const char *subject, const void *data, size_t len)
{
	if (strcmp(subject, REPLY) != 0) {
		pub.others++;
		return;
	}
	if (pub.replies++ != 0)
		return;
	if (len > pub.cap) {
		pub.p = xreallocarray(pub.p, len, 1);
		pub.cap = len;
	}
	if (len != 0)
		memcpy(pub.p, data, len);
	pub.len = len;
}

static int
no_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	(void)pid;
	(void)path;
	(void)fa;
	(void)attr;
	(void)argv;
	(void)envp;
	return ENOSYS;
}

/* ------------------------------------------------------------ failing */

static const char	*cur_subject;
static size_t		 cur_len;
static int		 verbose;	/* FUZZ_VERBOSE=1: a line per input */

static void	remove_tmpdir(void);
static void	fail(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* An invariant broke: say which, and abort so libFuzzer keeps the input. */
static void
fail(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "\nfuzz " FUZZ_TARGET ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  subject=%s payload=%zu bytes\n",
	    cur_subject != NULL ? cur_subject : "-", cur_len);
	remove_tmpdir();	/* libFuzzer's crash handler ends with _Exit() */
	abort();
}

/* ------------------------------------------------------------ the loop */

/*
 * Apply what is queued, then what that queued (dispatch, ends of attempts,
 * retries due now), until a turn commits nothing.
 */
static void
drain(void)
{
	uint64_t	before;
	int		i;

	for (i = 0; i < DRAIN_MAX; i++) {
		before = store_turns();
		store_flush_now();
		event_base_loop(base, EVLOOP_NONBLOCK);
		store_flush_now();
		if (store_turns() == before)
			return;
	}
	fail("the daemon still had work after %d loop turns", DRAIN_MAX);
}

/* Send a request as the bus would; the reply is in pub. */
static void
send_request(const char *subject, const void *data, size_t len)
{
	free(pub.p);
	memset(&pub, 0, sizeof pub);
	api_message(subject, REPLY, data, len);
	drain();
	run_free_timers();	/* retries not due: they are dropped */
}

/* ------------------------------------------------------------ snapshot */

struct rec {
	int	 db;
	MDB_val	 k, v;
};
static struct rec	*snap;
static size_t		 nsnap;
static char		 diff_at[160];	/* the first record that differed */

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
static int
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

static void
restore(void)
{
	static struct op	op = { restore_apply, restore_fail,
	    restore_free, { NULL, NULL } };

	store_submit(&op);
	store_flush_now();
	if (db_walk(0))
		fail("the snapshot did not restore");
}

/* ------------------------------------------------------------ checking */

/* Is s[0..n) well-formed UTF-8 without NUL (RFC 3629)? */
static int
utf8_ok(const uint8_t *s, size_t n)
{
	size_t		i = 0, k, more;
	uint32_t	c, min;

	while (i < n) {
		c = s[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			c &= 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			c &= 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			c &= 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i <= more)
			return 0;
		for (k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += more + 1;
	}
	return 1;
}

static int
uuid_ok(const char *s)
{
	size_t	i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
uuid_field(const char *name)
{
	size_t	n = strlen(name);

	return strcmp(name, "uuid") == 0 ||
	    (n > 5 && strcmp(name + n - 5, "_uuid") == 0) ||
	    (n > 6 && strcmp(name + n - 6, "_uuids") == 0);
}

/* Longest value the API takes for a request string field, by its name. */
static size_t
string_max(const char *name)
{
	static const struct {
		const char	*name;
		size_t		 max;
	} limits[] = {
		{ "name", NAME_MAX_LEN }, { "description", DESC_MAX },
		{ "path", PATH_MAX_LEN }, { "repo_url", PATH_MAX_LEN },
		{ "username", NAME_MAX_LEN }, { "token", PATH_MAX_LEN },
		{ "reference", NAME_MAX_LEN }, { "bucket_path", PATH_MAX_LEN },
		{ "region", NAME_MAX_LEN }, { "source_location", PATH_MAX_LEN },
		{ "args", ARGS_MAX }, { "instance_type", NAME_MAX_LEN },
		{ "version", NAME_MAX_LEN }, { "page_token", WIRE_PAGE_TOKEN_MAX },
		{ "idempotency_key", IDEM_MAX }, { "key", ENV_KEY_MAX },
		{ "value", ENV_VAL_MAX }, { "sql_query", MAX_MESSAGE },
	};
	size_t	i;

	for (i = 0; i < sizeof limits / sizeof limits[0]; i++)
		if (strcmp(limits[i].name, name) == 0)
			return limits[i].max;
	return (size_t)-1;
}

/*
 * protobuf-c's allocations while decoding, each prefixed with its size: a
 * string's length on the wire is its allocation's size - 1, which strlen()
 * cannot tell once the string holds a NUL.
 */
#define PB_HDR	16

static void *
pb_alloc(void *data, size_t n)
{
	uint8_t	*p;

	(void)data;
	p = xmalloc(PB_HDR + n);
	memcpy(p, &n, sizeof n);
	return p + PB_HDR;
}

static void
pb_free(void *data, void *p)
{
	(void)data;
	if (p != NULL)
		free((uint8_t *)p - PB_HDR);
}

static ProtobufCAllocator	pb_allocator = { pb_alloc, pb_free, NULL };

/* Length on the wire of a string decoded with pb_allocator. */
static size_t
wire_strlen(const char *s)
{
	size_t	n;

	if (s == protobuf_c_empty_string)
		return 0;
	memcpy(&n, s - PB_HDR, sizeof n);
	return n - 1;
}

/* A walk over a decoded message: a request to judge or a reply to check. */
struct walk {
	int		 reply;
	const char	*ws;		/* reply: the request's workspace */
	char		 bad[256];	/* request: why it must be refused */
};

static void	walk_message(struct walk *, const ProtobufCMessage *, int);

static void
bad(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bad(struct walk *w, const char *fmt, ...)
{
	va_list	ap;

	if (w->bad[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->bad, sizeof w->bad, fmt, ap);
	va_end(ap);
}

static size_t
elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

static void
walk_string(struct walk *w, const ProtobufCMessageDescriptor *md,
    const ProtobufCFieldDescriptor *f, const char *s)
{
	size_t	n = wire_strlen(s);

	if (!utf8_ok((const uint8_t *)s, n))
		bad(w, "%s.%s is not valid UTF-8%s", md->short_name, f->name,
		    strlen(s) != n ? " (it holds a NUL)" : "");
	if (*s != '\0' && uuid_field(f->name) && !uuid_ok(s))
		bad(w, "%s.%s '%.40s' is not a UUID", md->short_name, f->name,
		    s);
	if (w->reply) {
		if (strcmp(f->name, "workspace") == 0 &&
		    strcmp(s, w->ws) != 0)
			bad(w, "%s of workspace '%.64s' in a reply to '%s'",
			    md->short_name, s, w->ws);
		if (md == &batchd__v1__git_source__descriptor &&
		    strcmp(f->name, "token") == 0 && *s != '\0' &&
		    strcmp(s, "****") != 0)
			bad(w, "a git token in clear in a reply");
		return;
	}
	if (n > string_max(f->name))
		bad(w, "%s.%s is %zu bytes", md->short_name, f->name, n);
	if (strcmp(f->name, "key") == 0 && (n == 0 || strchr(s, '=') != NULL))
		bad(w, "env key '%.40s'", s);
	if (uuid_field(f->name) && f->label == PROTOBUF_C_LABEL_REPEATED &&
	    n == 0)
		bad(w, "%s.%s has an empty entry", md->short_name, f->name);
}

static void
walk_value(struct walk *w, const ProtobufCMessageDescriptor *md,
    const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	const ProtobufCMessage	*sub;
	const char		*s;
	uint32_t		 u;
	int64_t			 i;
	int			 e;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if ((s = *(char *const *)p) != NULL)
			walk_string(w, md, f, s);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		if ((sub = *(ProtobufCMessage *const *)p) != NULL)
			walk_message(w, sub, depth + 1);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		memcpy(&e, p, sizeof e);
		if (protobuf_c_enum_descriptor_get_value(f->descriptor,
		    e) == NULL)
			bad(w, "%s.%s has the unknown value %d",
			    md->short_name, f->name, e);
		break;
	case PROTOBUF_C_TYPE_UINT32:
		memcpy(&u, p, sizeof u);
		if (w->reply)
			break;
		if (strcmp(f->name, "page_size") == 0 && u > PAGE_MAX)
			bad(w, "page_size %u", u);
		if (strcmp(f->name, "max_bytes") == 0 && u > (1u << 20))
			bad(w, "max_bytes %u", u);
		break;
	case PROTOBUF_C_TYPE_INT64:
		memcpy(&i, p, sizeof i);
		if (!w->reply && strncmp(f->name, "submitted_", 10) == 0 &&
		    i < 0)
			bad(w, "%s %lld", f->name, (long long)i);
		break;
	default:
		break;
	}
}

static void
walk_message(struct walk *w, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor	*md = m->descriptor;
	const ProtobufCFieldDescriptor		*f;
	const char				*b = (const char *)m, *v;
	size_t					 n, i, j;

	if (depth > 16)
		return;
	for (j = 0; j < md->n_fields; j++) {
		f = &md->fields[j];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(b + f->quantifier_offset);
			v = *(const char *const *)(b + f->offset);
			if (!w->reply && strcmp(f->name, "env") == 0 &&
			    n > ENV_MAX)
				bad(w, "%zu env entries", n);
			if (!w->reply && strcmp(f->name, "cluster_uuids") == 0 &&
			    n > 1000)
				bad(w, "%zu cluster_uuids", n);
		} else {
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(b + f->quantifier_offset) !=
			    f->id)
				continue;
			n = 1;
			v = b + f->offset;
		}
		for (i = 0; i < n; i++)
			walk_value(w, md, f, v + i * elem_size(f->type), depth);
	}
}

/*
 * Why the daemon must refuse this payload of verb v with INVALID_ARGUMENT,
 * or NULL. Sets *field to the field the refusal must name, if known.
 */
static const char *
must_refuse(const struct fverb *v, const uint8_t *data, size_t len, const char **field)
{
	static struct walk	 w;
	ProtobufCMessage	*m;

	*field = NULL;
	if (len > MAX_MESSAGE) {
		*field = "payload";
		return "over max_message_bytes";
	}
	if ((m = protobuf_c_message_unpack(v->request, &pb_allocator,
	    len, data)) == NULL) {
		*field = "payload";
		return "not a valid message";
	}
	memset(&w, 0, sizeof w);
	walk_message(&w, m, 0);
	protobuf_c_message_free_unpacked(m, &pb_allocator);
	return w.bad[0] != '\0' ? w.bad : NULL;
}

/* A successful reply: decodes as the verb's reply and breaks no rule. */
static void
check_reply(const struct fverb *v, const char *ws)
{
	ProtobufCMessage	*m;
	struct walk		 w;

	if ((m = protobuf_c_message_unpack(v->reply, &pb_allocator,
	    pub.len, pub.p)) == NULL)
		fail("the reply of %s is not a valid %s", v->name,
		    v->reply->short_name);
	memset(&w, 0, sizeof w);
	w.reply = 1;
	w.ws = ws;
	walk_message(&w, m, 0);
	protobuf_c_message_free_unpacked(m, &pb_allocator);
	if (w.bad[0] != '\0')
		fail("reply of %s: %s", v->name, w.bad);
}

/* ------------------------------------------------------------ one input */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 subject[256];
	static const char	 long_ws[] = "w0123456789012345678901234567890"
	    "123456789012345678901234567890123";	/* WS_MAX + 1 */
	Batchd__V1__DeleteReply	*r;
	const uint8_t		*p = size > 0 ? data + 1 : data;
	const char		*ws = "w", *why, *field, *want_field = NULL;
	char			 name[32], *dot;
	size_t			 len = size > 0 ? size - 1 : 0;
	uint8_t			 sel = size > 0 ? data[0] : 0;
	const struct fverb	*v = pick_verb(sel);
	int			 code, changed;

	snprintf(name, sizeof name, "%s", v->name);
	dot = strchr(name, '.');
	*dot++ = '\0';
	switch (sel & 0x0f) {
	case 11:
		ws = "o";	/* the other workspace */
		break;
	case 12:
		dot = "frobnicate";
		want_field = "subject";
		break;
	case 13:
		ws = "w*x";
		want_field = "workspace";
		break;
	case 14:
		ws = long_ws;
		want_field = "workspace";
		break;
	case 10:
		ws = "w.x";	/* one token too many */
		want_field = "subject";
		break;
	case 15:		/* batchd.v2 */
		want_field = "subject";
		break;
	}
	snprintf(subject, sizeof subject, "batchd.%s.%s.%s.%s",
	    (sel & 0x0f) == 15 ? "v2" : "v1", ws, name, dot);
	cur_subject = subject;
	cur_len = len;
	why = want_field != NULL ? "a bad subject" :
	    must_refuse(v, p, len, &field);
	if (want_field == NULL && why != NULL)
		want_field = field;

	uuid_counter = seeded_counter;
	send_request(subject, p, len);

	if (pub.replies != 1)
		fail("%d replies", pub.replies);
	if (pub.others != 0)
		fail("%d publications other than the reply", pub.others);
	if ((r = batchd__v1__delete_reply__unpack(NULL, pub.len,
	    pub.p)) == NULL)
		fail("the reply does not decode");
	code = r->error != NULL ? (int)r->error->code : 0;
	changed = db_walk(0);
	if (verbose)
		fprintf(stderr, "%s %zu bytes: %s%s%s%s%s%s\n", subject, len,
		    errcode_name(code), r->error != NULL ? " " : "",
		    r->error != NULL ? r->error->field : "",
		    r->error != NULL ? ": " : "",
		    r->error != NULL ? r->error->message : "",
		    changed ? " (changed the database)" : "");
	if (r->error != NULL) {
		if (code < E_INVALID || code > E_PAUSED)
			fail("error reply %s (%s): %s", errcode_name(code),
			    r->error->field, r->error->message);
		if (r->error->field[0] == '\0')
			fail("error reply %s names no field: %s",
			    errcode_name(code), r->error->message);
		if (changed)
			fail("error reply %s (%s: %s) but the database changed "
			    "(%s)", errcode_name(code), r->error->field,
			    r->error->message, diff_at);
	}
	if (why != NULL && code != E_INVALID)
		fail("%s%s though %s", code == 0 ? "accepted" : "answered ",
		    code == 0 ? "" : errcode_name(code), why);
	if (want_field != NULL && strcmp(r->error->field, want_field) != 0)
		fail("refused naming '%s', not '%s' (%s): %s", r->error->field,
		    want_field, why, r->error->message);
	if (changed && v->read_only)
		fail("%s changed the database (%s)", v->name,
		    diff_at);
	if (r->error == NULL)
		check_reply(v, ws);
	batchd__v1__delete_reply__free_unpacked(r, NULL);
	if (changed)
		restore();
	cur_subject = NULL;
	return 0;
}

/* ------------------------------------------------------------ seeding */

/* Send a seeding request; abort unless it succeeds. Reply in pub. */
static void
seed_call(const char *ws, const struct fverb *v, const ProtobufCMessage *m)
{
	Batchd__V1__DeleteReply	*r;
	uint8_t			*buf;
	char			*subject;
	size_t			 n;

	n = protobuf_c_message_get_packed_size(m);
	buf = xmalloc(n + 1);
	protobuf_c_message_pack(m, buf);
	xasprintf(&subject, "batchd.v1.%s.%s", ws, v->name);
	cur_subject = subject;
	send_request(subject, buf, n);
	if (pub.replies != 1 ||
	    (r = batchd__v1__delete_reply__unpack(NULL, pub.len,
	    pub.p)) == NULL)
		fail("seeding: no valid reply");
	if (r->error != NULL)
		fail("seeding: refused: %s (%s): %s",
		    errcode_name((enum errcode)r->error->code), r->error->field,
		    r->error->message);
	batchd__v1__delete_reply__free_unpacked(r, NULL);
	cur_subject = NULL;
	free(subject);
	free(buf);
}

/* The UUID in the reply of the last seeding request must be number n. */
static void
seed_expect(const struct fverb *v, int n)
{
	ProtobufCMessage	*m;
	const char		*got = "";

	m = protobuf_c_message_unpack(v->reply, NULL, pub.len, pub.p);
	if (m == NULL)
		fail("seeding: reply does not decode");
	if (v->reply == &batchd__v1__job_definition_reply__descriptor)
		got = ((Batchd__V1__JobDefinitionReply *)m)->job_definition->uuid;
	else if (v->reply == &batchd__v1__cluster_reply__descriptor)
		got = ((Batchd__V1__ClusterReply *)m)->cluster->uuid;
	else if (v->reply == &batchd__v1__job_run_reply__descriptor)
		got = ((Batchd__V1__JobRunReply *)m)->job_run->uuid;
	if (strcmp(got, seed_uuid(n)) != 0)
		fail("seeding: got uuid %s, make_seeds.py expects %s", got,
		    seed_uuid(n));
	protobuf_c_message_free_unpacked(m, NULL);
}

static void
seed_jobdef(const char *ws, const char *name, Batchd__V1__JobConfig *c,
    Batchd__V1__ClusterConfig *cc, int n)
{
	Batchd__V1__CreateJobDefinitionRequest	m =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;

	m.name = (char *)name;
	m.description = "seeded by the fuzz harness";
	m.config = c;
	m.cluster_config = cc;
	seed_call(ws, fverb("jobdef.create"), &m.base);
	seed_expect(fverb("jobdef.create"), n);
}

static void
seed_cluster(const char *ws, const char *name, int workers, int auto_resume,
    int n)
{
	Batchd__V1__CreateClusterRequest	m =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterConfig		c =
	    BATCHD__V1__CLUSTER_CONFIG__INIT;

	c.instance_type = "small";
	c.workers_quantity = workers;
	c.version = "1.0";
	m.name = (char *)name;
	m.config = &c;
	if (auto_resume != -1) {
		m.auto_resume_opt_case =
		    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME;
		m.auto_resume = auto_resume;
	}
	seed_call(ws, fverb("cluster.create"), &m.base);
	seed_expect(fverb("cluster.create"), n);
}

/* A verb taking just a uuid (cluster.pause, run.cancel). */
static void
seed_by_uuid(const char *ws, const struct fverb *v, int n)
{
	Batchd__V1__GetClusterRequest	c = BATCHD__V1__GET_CLUSTER_REQUEST__INIT;
	Batchd__V1__GetJobRunRequest	r = BATCHD__V1__GET_JOB_RUN_REQUEST__INIT;

	c.uuid = r.uuid = (char *)seed_uuid(n);
	seed_call(ws, v, strcmp(v->name, "cluster.pause") == 0 ? &c.base :
	    &r.base);
}

static void
seed_submit(const char *ws, int def, int cluster, const char *idem, int n)
{
	Batchd__V1__SubmitJobRunRequest	m =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;

	m.job_definition_uuid = (char *)seed_uuid(def);
	if (cluster != 0)
		m.cluster_uuid = (char *)seed_uuid(cluster);
	if (idem != NULL)
		m.idempotency_key = (char *)idem;
	seed_call(ws, fverb("run.submit"), &m.base);
	seed_expect(fverb("run.submit"), n);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(text, f);
	fclose(f);
}

/*
 * The seeded state; make_seeds.py names the same UUIDs (seed_uuid(n)).
 * Workspace "w":
 *  1 jobdef py      WORKSPACE jobs/main.py, 2 retries without delay,
 *                   a default cluster configuration
 *  2 jobdef git     GIT with a token, no default cluster
 *  3 jobdef slow    WORKSPACE, 1 retry after an hour, default cluster
 *  4 cluster c1     idle
 *  5 cluster paused        paused, auto_resume off
 *  6 cluster resumable     paused, auto_resume on
 *  7 cluster busy   held by run 8, runs 9 and 10 queued (queue_cap 2: full)
 *  8 run slow@busy  PENDING, waiting to retry after attempt 1
 *  9 run py@busy    PENDING in queue, idempotency key "k1"
 * 10 run py@busy    PENDING in queue
 * 11 run py         ephemeral cluster 12 (deleted): FAILED after 3
 *                   attempts; attempt 1 has stdout and stderr
 * 13 run sql@c1     FAILED (spawning is replaced)
 * 14 run git@c1     FAILED (GIT fetch unsupported)
 * 15 cluster hold   held by run 16
 * 16 run slow@hold  PENDING, waiting to retry
 * 17 run py@hold    CANCELLED while queued, idempotency key "k2"
 * Workspace "o": 18 jobdef py, 19 cluster c1, 20 run slow-like@c1 PENDING
 * (waiting to retry). No run stays RUNNING: nothing is spawned.
 */
static void
seed(void)
{
	Batchd__V1__JobConfig		c = BATCHD__V1__JOB_CONFIG__INIT;
	Batchd__V1__JobSource		s = BATCHD__V1__JOB_SOURCE__INIT;
	Batchd__V1__WorkspaceSource	wsrc = BATCHD__V1__WORKSPACE_SOURCE__INIT;
	Batchd__V1__GitSource		git = BATCHD__V1__GIT_SOURCE__INIT;
	Batchd__V1__RetryStrategy	rs = BATCHD__V1__RETRY_STRATEGY__INIT;
	Batchd__V1__JobConfig__EnvEntry	env = BATCHD__V1__JOB_CONFIG__ENV_ENTRY__INIT;
	Batchd__V1__JobConfig__EnvEntry	*envp[1] = { &env };
	Batchd__V1__ClusterConfig	cc = BATCHD__V1__CLUSTER_CONFIG__INIT;
	Batchd__V1__SubmitSqlJobRunRequest sql =
	    BATCHD__V1__SUBMIT_SQL_JOB_RUN_REQUEST__INIT;
	char				*path;
	const char			*wss[] = { "w", "o" };
	int				 i;

	for (i = 0; i < 2; i++) {
		xasprintf(&path, "%s/%s/jobs", cfg->workspace_root, wss[i]);
		if (mkdir_p(path, 0700) == -1)
			fatal("%s", path);
		free(path);
		xasprintf(&path, "%s/%s/jobs/main.py", cfg->workspace_root,
		    wss[i]);
		write_file(path, "print('hello')\n");
		free(path);
	}

	wsrc.path = "jobs";
	s.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	s.workspace = &wsrc;
	c.source = &s;
	c.type = BATCHD__V1__JOB_TYPE__PYTHON;
	c.source_location = "main.py";
	c.args = "--n 1 'a b'";
	rs.num_retries_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES;
	rs.num_retries = 2;
	rs.retry_delay_seconds_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS;
	rs.retry_delay_seconds = 0;
	c.retry_strategy = &rs;
	c.timeout_seconds_opt_case =
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS;
	c.timeout_seconds = 60;
	env.key = "GREETING";
	env.value = "hi";
	c.n_env = 1;
	c.env = envp;
	cc.instance_type = "small";
	cc.workers_quantity = 2;
	cc.version = "3.12";
	seed_jobdef("w", "py", &c, &cc, 1);

	git.repo_url = "https://example.com/repo.git";
	git.username = "fuzz";
	git.token = "s3cr3t-token";
	git.reference = "main";
	s.type = BATCHD__V1__SOURCE_TYPE__GIT;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_GIT;
	s.git = &git;
	c.retry_strategy = NULL;
	seed_jobdef("w", "git", &c, NULL, 2);

	s.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	s.workspace = &wsrc;
	rs.num_retries = 1;
	rs.retry_delay_seconds = 3600;
	c.retry_strategy = &rs;
	cc.workers_quantity = 1;
	seed_jobdef("w", "slow", &c, &cc, 3);

	seed_cluster("w", "c1", 1, -1, 4);
	seed_cluster("w", "paused", 1, 0, 5);
	seed_by_uuid("w", fverb("cluster.pause"), 5);
	seed_cluster("w", "resumable", 4, 1, 6);
	seed_by_uuid("w", fverb("cluster.pause"), 6);
	seed_cluster("w", "busy", 1, -1, 7);

	seed_submit("w", 3, 7, NULL, 8);	/* holds busy, retry pending */
	seed_submit("w", 1, 7, "k1", 9);	/* queued */
	seed_submit("w", 1, 7, NULL, 10);	/* queued: busy is full */
	seed_submit("w", 1, 0, NULL, 11);	/* ephemeral 12, 3 attempts */

	sql.sql_query = "select 1;";
	sql.cluster_uuid = (char *)seed_uuid(4);
	seed_call("w", fverb("run.submit_sql"), &sql.base);
	seed_expect(fverb("run.submit_sql"), 13);
	seed_submit("w", 2, 4, NULL, 14);	/* GIT: fetch fails */

	seed_cluster("w", "hold", 1, -1, 15);
	seed_submit("w", 3, 15, NULL, 16);	/* holds hold */
	seed_submit("w", 1, 15, "k2", 17);	/* queued ... */
	seed_by_uuid("w", fverb("run.cancel"), 17);	/* ... and cancelled */

	seed_jobdef("o", "py", &c, &cc, 18);
	seed_cluster("o", "c1", 1, -1, 19);
	seed_submit("o", 18, 19, NULL, 20);	/* retry pending */

	/* Output for run.logs: attempt 1 of run 11 wrote something. */
	path = logs_path(seed_uuid(11), 1, LS_STDOUT);
	write_file(path, "hello from attempt 1\nline 2\n");
	free(path);
	path = logs_path(seed_uuid(11), 1, LS_STDERR);
	write_file(path, "Traceback: boom\n");
	free(path);
}

/* ------------------------------------------------------------ set-up */

static char	tmpdir[4096];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static void
cleanup(void)
{
	store_close();
	remove_tmpdir();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*t = getenv("TMPDIR");
	char		*cause = NULL, n[16];
	size_t		 i;
	int		 rc;

	(void)argc;
	(void)argv;
	for (i = 0; i < sizeof targets / sizeof targets[0]; i++)
		if (strcmp(targets[i].name, FUZZ_TARGET) == 0)
			target = &targets[i];
	if (target == NULL)
		fatalx("unknown target %s", FUZZ_TARGET);
	/* The harness and the daemon know the same verbs. */
	for (i = 0; i < sizeof fverbs / sizeof fverbs[0]; i++)
		if (verb_find(fverbs[i].name) == NULL)
			fatalx("batchd lists no verb %s", fverbs[i].name);
	for (i = 0; verb_at((int)i) != NULL; i++)
		(void)fverb(verb_at((int)i)->name);

	snprintf(tmpdir, sizeof tmpdir, "%s/batchd-fuzz.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp %s", tmpdir);
	atexit(cleanup);
	setenv("BATCHD_DATA_DIR", tmpdir, 1);
	unsetenv("BATCHD_WORKSPACE_ROOT");
	setenv("BATCHD_SUBJECT_PREFIX", "batchd", 1);
	snprintf(n, sizeof n, "%d", MAX_MESSAGE);
	setenv("BATCHD_MAX_MESSAGE_BYTES", n, 1);
	snprintf(n, sizeof n, "%d", QUEUE_CAP);
	setenv("BATCHD_QUEUE_CAP", n, 1);
	if ((cfg = config_load(NULL, &cause)) == NULL)
		fatalx("config: %s", cause);
	log_init(LOG_LVL_ERROR);
	if ((base = event_base_new()) == NULL ||
	    event_base_priority_init(base, 3) == -1)
		fatalx("event base");
	if (store_open(cfg->data_dir, MAP_SIZE, &cause) == -1)
		fatalx("store: %s", cause);
	/* The harness never needs the data after a crash. */
	if ((rc = mdb_env_set_flags(store_env(), MDB_NOSYNC, 1)) != 0)
		fatalx("MDB_NOSYNC: %s", mdb_strerror(rc));
	bus_publish_hook = capture;
	uuid_new_hook = counter_uuid;
	exec_spawn = no_spawn;

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	seed();
	seeded_counter = uuid_counter;
	db_walk(1);
	if (db_walk(0))
		fatalx("the snapshot does not compare equal to itself");
	return 0;
}
