/*
 * fuzz.c: the libFuzzer harness of batchd's request path, one binary per
 * request type (compiled with -DFUZZ_TARGET="\"run_submit\"" and so on):
 * the targets, the seams, one input, the set-up. The verbs it sends are in
 * verbs.c, what it checks of a reply in check.c, the seeded state in seed.c
 * and its snapshot in snapshot.c (fuzz.h joins them).
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

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "fuzz.h"

#ifndef FUZZ_TARGET
#error FUZZ_TARGET must name the target, e.g. -DFUZZ_TARGET='"run_get"'
#endif

struct config	*cfg;

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct target {
	const char	*name;
	const char	*verbs[5];	/* chosen by the high nibble of byte 0 */
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
	{ "run_submit_batch", { "run.submit_batch" }, 1 },
	{ "run_rerun", { "run.rerun" }, 1 },
	{ "run_get", { "run.get", "run.cancel", "run.events" }, 3 },
	{ "run_cancel_all", { "run.cancel_all" }, 1 },
	{ "run_list", { "run.list" }, 1 },
	{ "run_logs", { "run.logs" }, 1 },
	{ "schedule_create", { "schedule.create" }, 1 },
	{ "schedule_get", { "schedule.get", "schedule.pause",
	    "schedule.resume", "schedule.trigger", "schedule.delete" }, 5 },
	{ "schedule_list", { "schedule.list" }, 1 },
	{ "schedule_update", { "schedule.update" }, 1 },
};
static const struct target	*target;

/* The verb of this input: the high nibble of byte 0 picks among the
 * target's. */
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

struct pub	pub;

/* bus_publish_hook: what batchd publishes, kept in pub. */
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

/* exec_spawn: nothing is spawned; every attempt fails to start. */
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

const char	*cur_subject;
size_t		 cur_len;
static int	 verbose;	/* FUZZ_VERBOSE=1: a line per input */

static void	remove_tmpdir(void);

/* An invariant broke: say which, and abort so libFuzzer keeps the input. */
void
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
void
send_request(const char *subject, const void *data, size_t len)
{
	free(pub.p);
	memset(&pub, 0, sizeof pub);
	api_message(subject, REPLY, data, len);
	drain();
	run_free_timers();	/* retries not due: they are dropped */
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
	fverb_check();

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
