/*
 * unit.c: unit tests of the daemon's pieces, each in its own temporary
 * directory (the process chdirs into it), against a real LMDB environment.
 *
 * Output: one line per test ("ok NAME" or "FAIL NAME: why"; "ok NAME #
 * skipped: why" for a test that cannot run on this machine, counted as
 * passed), then "unit: N passed, N failed" (", N skipped" when some were).
 * Exit status 1 if any failed. Tests in other files (cgroup.c) share
 * unit.h.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "../../lib/words.h"

struct config	*cfg;

int		 failed;
char		 why[512];
char		 skip_note[256];

/* A fresh default configuration (no file, no environment). */
static void
fresh_config(void)
{
	char	*cause = NULL;

	config_free(cfg);
	cfg = config_load(NULL, &cause);
	if (cfg == NULL) {
		fprintf(stderr, "config_load: %s\n", cause);
		exit(2);
	}
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/*
 * A LogChunk's head, then its data: one message, every field as given,
 * encoded (ZSTD, with its size) or not.
 */
static void
test_wire_logchunk_head(void)
{
	static const size_t	 lens[] = { 0, 1, 127, 128, 300, 1 << 20 };
	Batchd__V1__LogChunk	*m;
	struct logchunk		 c;
	uint8_t			*msg;
	size_t			 i, n, k;

	msg = xmalloc(WIRE_LOGCHUNK_HEAD + (1 << 20));
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		memset(&c, 0, sizeof c);
		c.run_uuid = "01a210ba-8990-7185-98d9-0ba2d17c16d2";
		c.attempt = 4000000000u;
		c.stream = LS_STDERR;
		c.offset = 123456789012345ull;
		c.len = lens[i];
		c.eof = lens[i] == 0;
		if (i % 2 == 1) {	/* and as batchd sends compressed data */
			c.encoding = LE_ZSTD;
			c.size = 4000000000u;
		}
		n = wire_logchunk_head(msg, &c);
		CHECK(n <= WIRE_LOGCHUNK_HEAD);
		for (k = 0; k < c.len; k++)
			msg[n + k] = (uint8_t)(k * 7 + i);
		m = batchd__v1__log_chunk__unpack(NULL, n + c.len, msg);
		CHECK(m != NULL);
		CHECK(strcmp(m->run_uuid, c.run_uuid) == 0);
		CHECK(m->attempt == c.attempt && m->offset == c.offset);
		CHECK(m->stream == BATCHD__V1__LOG_STREAM__STDERR);
		CHECK(m->eof == (protobuf_c_boolean)c.eof);
		CHECK(m->data.len == c.len);
		CHECK(c.len == 0 || memcmp(m->data.data, msg + n, c.len) == 0);
		CHECK(m->encoding == (i % 2 == 1 ?
		    BATCHD__V1__LOG_ENCODING__ZSTD :
		    BATCHD__V1__LOG_ENCODING__IDENTITY));
		CHECK(m->size == c.size);
		batchd__v1__log_chunk__free_unpacked(m, NULL);
	}
	free(msg);
}

/* ------------------------------------------------------------ files */

/*
 * bus.c frees the messages cnats delivers with libnats's natsMsg_free(),
 * referenced weakly (it is not in nats.h). Without it batchd still works,
 * through natsMsg_Destroy() and cnats's collector thread, ~10 % slower at
 * K=32: this says so if the libnats we build against stops exporting it.
 */
extern void	natsMsg_free(void *) __attribute__((weak));

static void
test_nats_msg_free(void)
{
	natsMsg	*m = NULL;

	CHECK(natsMsg_free != NULL);
	CHECK(natsMsg_Create(&m, "a.b", NULL, "xy", 2) == NATS_OK);
	CHECK(natsMsgHeader_Set(m, "K", "v") == NATS_OK);
	natsMsg_free(m);	/* LeakSanitizer: headers and all */
}

/* mkdir_p() makes missing parents, accepts what exists, refuses a file. */
static void
test_mkdir_p(void)
{
	struct stat	st;

	CHECK(mkdir_p("a/b/c/d", 0700) == 0);
	CHECK(stat("a/b/c/d", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK((st.st_mode & 0777) == 0700);
	CHECK(mkdir_p("a/b/c/d", 0700) == 0);		/* exists */
	CHECK(mkdir_p("a/b/e/", 0700) == 0);		/* trailing slash */
	CHECK(stat("a/b/e", &st) == 0 && S_ISDIR(st.st_mode));
	write_file("a/f", "");
	errno = 0;
	CHECK(mkdir_p("a/f/g/h", 0700) == -1 && errno == ENOTDIR);
	CHECK(stat("a/f/g", &st) == -1);
}

/* ------------------------------------------------------------ config */

static void
test_config_defaults(void)
{
	CHECK(strcmp(cfg->subject_prefix, "batchd") == 0);
	CHECK(strcmp(cfg->data_dir, "./var") == 0);
	CHECK(strcmp(cfg->workspace_root, "./var/workspaces") == 0);
	CHECK(cfg->queue_cap == 100);
	CHECK(strcmp(cfg->default_workspace, "default") == 0);
	CHECK(cfg->log_level == LOG_LVL_INFO);
	CHECK(cfg->log_zstd_level == 1);
}

static void
test_config_file(void)
{
	struct config	*c;
	char		*cause = NULL;

	write_file("a.conf", "# comment\nnats_url = nats://127.0.0.1:5\n"
	    "queue_cap = 7\nlmdb_map_size = 64M\nlog_level = debug\n");
	c = config_load("a.conf", &cause);
	CHECK(c != NULL);
	CHECK(strcmp(c->nats_url, "nats://127.0.0.1:5") == 0);
	CHECK(c->queue_cap == 7);
	CHECK(c->lmdb_map_size == 64u << 20);
	CHECK(c->log_level == LOG_LVL_DEBUG);
	config_free(c);
}

static void
test_config_unknown_key(void)
{
	char	*cause = NULL;

	write_file("b.conf", "queue_cap = 5\n\nfrobnicate = 1\n");
	CHECK(config_load("b.conf", &cause) == NULL);
	CHECK(strstr(cause, "b.conf:3:") != NULL);
	CHECK(strstr(cause, "frobnicate") != NULL);
	free(cause);
}

static void
test_config_bad_value(void)
{
	char	*cause = NULL;

	write_file("c.conf", "queue_cap = lots\n");
	CHECK(config_load("c.conf", &cause) == NULL);
	CHECK(strstr(cause, "c.conf:1:") != NULL);
	CHECK(strstr(cause, "queue_cap") != NULL);
	free(cause);
	write_file("d.conf", "queue_cap = 0\n");
	CHECK(config_load("d.conf", &cause) == NULL);
	free(cause);
	write_file("e.conf", "log_level = loud\n");
	CHECK(config_load("e.conf", &cause) == NULL);
	CHECK(strstr(cause, "log_level") != NULL);
	free(cause);
	/* zstd runs on the loop thread: no level that takes ms per MiB */
	write_file("e.conf", "log_zstd_level = 4\n");
	CHECK(config_load("e.conf", &cause) == NULL);
	CHECK(strstr(cause, "log_zstd_level") != NULL &&
	    strstr(cause, "from 0 to 3") != NULL);
	free(cause);
}

static void
test_config_env(void)
{
	struct config	*c;
	char		*cause = NULL;

	write_file("f.conf", "queue_cap = 7\ndata_dir = /nowhere\n");
	setenv("BATCHD_QUEUE_CAP", "9", 1);
	setenv("BATCHD_SUBJECT_PREFIX", "acme.batchd", 1);
	c = config_load("f.conf", &cause);
	unsetenv("BATCHD_QUEUE_CAP");
	unsetenv("BATCHD_SUBJECT_PREFIX");
	CHECK(c != NULL);
	CHECK(c->queue_cap == 9);
	CHECK(strcmp(c->subject_prefix, "acme.batchd") == 0);
	CHECK(strcmp(c->workspace_root, "/nowhere/workspaces") == 0);
	config_free(c);

	setenv("BATCHD_QUEUE_CAP", "x", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_QUEUE_CAP");
	CHECK(c == NULL);
	CHECK(strstr(cause, "BATCHD_QUEUE_CAP") != NULL);
	free(cause);
}

static void
test_config_missing_file(void)
{
	char	*cause = NULL;

	CHECK(config_load("nope.conf", &cause) == NULL);
	CHECK(strstr(cause, "nope.conf") != NULL);
	free(cause);
}

/* ------------------------------------------------------------ util */

/* The one shell-word splitter (lib/words.c): quotes, escapes, causes. */
static void
test_split_words(void)
{
	char		**w = NULL;
	const char	 *cause = NULL;
	size_t		  n = 0;

	CHECK(words_split_why("  --a 1 'b c' \"d \\\"e\\\"\" f\\ g ''", &w, &n,
	    &cause) == 0);
	CHECK(n == 6);
	CHECK(strcmp(w[0], "--a") == 0);
	CHECK(strcmp(w[1], "1") == 0);
	CHECK(strcmp(w[2], "b c") == 0);
	CHECK(strcmp(w[3], "d \"e\"") == 0);
	CHECK(strcmp(w[4], "f g") == 0);
	CHECK(strcmp(w[5], "") == 0);
	CHECK(w[6] == NULL);
	/* appends to what is there */
	CHECK(words_split("x 'y z'", &w, &n) == 0 && n == 8);
	CHECK(strcmp(w[6], "x") == 0 && strcmp(w[7], "y z") == 0);
	CHECK(words_add(&w, &n, "last") == 0 && n == 9 && w[9] == NULL);
	words_free(w);
	w = NULL;
	n = 0;
	CHECK(words_split_why("", &w, &n, &cause) == 0 && n == 0);
	CHECK(words_split_why("a 'b", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced single quote") == 0);
	CHECK(words_split_why("a \"b", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced double quote") == 0);
	CHECK(words_split_why("a \\", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced backslash") == 0);
	CHECK(words_split("a \"b\\\"c\"", &w, &n) == 0);
	words_free(w);
}

static void
test_utf8(void)
{
	CHECK(utf8_valid("abc", 3));
	CHECK(utf8_valid("\xc3\xa9", 2));
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(!utf8_valid("\xc3", 1));
	CHECK(!utf8_valid("\xc0\xaf", 2));		/* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	CHECK(!utf8_valid("\xff", 1));
	CHECK(!utf8_valid("a\0b", 3));
}

static void
test_names(void)
{
	char	u[UUID_LEN + 1];

	uuid_new(u);
	CHECK(uuid_valid(u));
	CHECK(u[14] == '7');				/* version 7 */
	CHECK(strchr("89ab", u[19]) != NULL);		/* RFC variant */
	CHECK(!uuid_valid("F256C794-4C2D-49A3-BA7A-7CF1BFA6628C"));
	CHECK(!uuid_valid("f256c794"));
	CHECK(ws_valid("team_A-1"));
	CHECK(!ws_valid(""));
	CHECK(!ws_valid("a.b"));
	CHECK(!ws_valid("a*"));
	CHECK(!ws_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* Identifiers given in order sort in order, 5000 in a millisecond too
 * (past the 12-bit counter: the next millisecond is borrowed). */
/* The CRC-32 check value, and the same in pieces of every alignment. */
static void
test_crc32(void)
{
	const char	*s = "123456789";
	uint8_t		 big[1000];
	uint32_t	 whole, parts;
	size_t		 i, cut;

	CHECK(crc32_ieee(0, s, 9) == 0xcbf43926u);
	CHECK(crc32_ieee(0, "", 0) == 0);
	for (i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	whole = crc32_ieee(0, big, sizeof big);
	for (cut = 0; cut < 17; cut++) {
		parts = crc32_ieee(0, big, cut);
		parts = crc32_ieee(parts, big + cut, sizeof big - cut);
		CHECK(parts == whole);
	}
}

static void
test_uuid_order(void)
{
	char	prev[UUID_LEN + 1], u[UUID_LEN + 1];
	int	i, ordered = 1;

	uuid_new(prev);
	for (i = 0; i < 20000; i++) {
		uuid_new(u);
		if (!uuid_valid(u) || strcmp(prev, u) >= 0)
			ordered = 0;
		memcpy(prev, u, sizeof u);
	}
	CHECK(ordered);
}

/* ------------------------------------------------------------ wire */

static int
decode(const char *verb, const ProtobufCMessage *m, struct request *r,
    struct error *e)
{
	uint8_t	buf[4096];
	size_t	n;

	n = protobuf_c_message_pack(m, buf);
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	return wire_request_decode(verb_find(verb), buf, n, r, e);
}

static void
test_wire_garbage(void)
{
	struct request	r;
	struct error	e = { 0 };

	memset(&r, 0, sizeof r);
	CHECK(wire_request_decode(verb_find("jobdef.create"), "\xff\xff\xff",
	    3, &r, &e) == -1);
	CHECK(e.code == E_INVALID);
	CHECK(strcmp(e.field, "payload") == 0);
	request_free(&r);
}

static void	test_wire_env_total(Batchd__V1__CreateJobDefinitionRequest *,
		    Batchd__V1__JobConfig *);

static void
test_wire_bounds(void)
{
	Batchd__V1__CreateJobDefinitionRequest	m =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__JobConfig			c = BATCHD__V1__JOB_CONFIG__INIT;
	struct request				r;
	struct error				e;
	char					name[300];

	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	m.name = name;
	CHECK(decode("jobdef.create", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "name") == 0);
	request_free(&r);

	m.name = "ok\xff";
	CHECK(decode("jobdef.create", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "name") == 0);
	CHECK(strstr(e.message, "UTF-8") != NULL);
	request_free(&r);

	m.name = "ok";
	c.type = 77;
	m.config = &c;
	CHECK(decode("jobdef.create", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "config.type") == 0);
	request_free(&r);
	test_wire_env_total(&m, &c);
}

/* An env map is bounded in all (ENV_TOTAL_MAX), not only per value. */
static void
test_wire_env_total(Batchd__V1__CreateJobDefinitionRequest *m,
    Batchd__V1__JobConfig *c)
{
	Batchd__V1__JobConfig__EnvEntry		 ent[3], *ents[3];
	struct request				 r;
	struct error				 e;
	char					 keys[3][8], *val;
	uint8_t					*buf;
	size_t					 n;
	int					 i, rc[2];

	val = xmalloc(ENV_VAL_MAX + 1);
	memset(val, 'v', ENV_VAL_MAX);
	val[ENV_VAL_MAX] = '\0';
	for (i = 0; i < 3; i++) {
		batchd__v1__job_config__env_entry__init(&ent[i]);
		snprintf(keys[i], sizeof keys[i], "K%d", i);
		ent[i].key = keys[i];
		ent[i].value = val;
		ents[i] = &ent[i];
	}
	c->type = 1;
	c->env = ents;
	m->config = c;
	for (i = 1; i <= 3; i += 2) {
		/* One value at its own bound fits; three do not, in all. */
		c->n_env = i;
		buf = xmalloc(protobuf_c_message_get_packed_size(&m->base));
		n = protobuf_c_message_pack(&m->base, buf);
		memset(&r, 0, sizeof r);
		memset(&e, 0, sizeof e);
		rc[i / 2] = wire_request_decode(verb_find("jobdef.create"), buf,
		    n, &r, &e);
		free(buf);
		request_free(&r);
	}
	c->env = NULL;
	c->n_env = 0;
	free(val);
	CHECK(rc[0] == 0 && rc[1] == -1);
	CHECK(strcmp(e.field, "config.env") == 0);
	CHECK(strstr(e.message, "65536") != NULL);
}

static void
test_wire_page_size(void)
{
	Batchd__V1__ListJobRunsRequest	m =
	    BATCHD__V1__LIST_JOB_RUNS_REQUEST__INIT;
	struct request			r;
	struct error			e;

	m.page_size = 100000;
	CHECK(decode("run.list", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "page_size") == 0);
	request_free(&r);
	m.page_size = 0;
	m.cluster_uuid = "not-a-uuid";
	CHECK(decode("run.list", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "cluster_uuid") == 0);
	request_free(&r);
	m.cluster_uuid = "";
	CHECK(decode("run.list", &m.base, &r, &e) == 0);
	CHECK(r.page_size == PAGE_DEFAULT);
	request_free(&r);
}

static void
test_wire_run_roundtrip(void)
{
	struct run	r, back;
	struct buf	b = { 0 };

	memset(&r, 0, sizeof r);
	memset(&back, 0, sizeof back);
	uuid_new(r.uuid);
	r.ws = xstrdup("w");
	r.status = RS_FAILED;
	r.reason = R_TIMEOUT;
	r.has_exit = 1;
	r.exit_code = 0;
	r.has_args = 1;
	r.args = xstrdup("");
	kvlist_set(&r.env, "K", "V");
	r.config.source.type = SRC_GIT;
	r.config.source.token = xstrdup("secret");
	r.attempts = xcalloc(1, sizeof *r.attempts);
	r.n_attempts = 1;
	r.attempts[0].n = 1;
	r.attempts[0].usage.maxrss_kb = 1234;
	wire_encode_run(&b, &r);
	CHECK(wire_decode_run(b.p, b.len, &back) == 0);
	CHECK(strcmp(back.uuid, r.uuid) == 0);
	CHECK(back.status == RS_FAILED && back.reason == R_TIMEOUT);
	CHECK(back.has_exit && back.exit_code == 0);
	CHECK(back.has_args && strcmp(back.args, "") == 0);
	CHECK(strcmp(kvlist_get(&back.env, "K"), "V") == 0);
	/* Records keep the token; replies mask it. */
	CHECK(strcmp(back.config.source.token, "secret") == 0);
	CHECK(back.n_attempts == 1 && back.attempts[0].usage.maxrss_kb == 1234);
	wire_reply_run(&b, &r);
	CHECK(memmem(b.p, b.len, "secret", 6) == NULL);
	CHECK(memmem(b.p, b.len, "****", 4) != NULL);
	buf_free(&b);
	run_free(&r);
	run_free(&back);
}

/*
 * One converter reads requests and records: a request's env is bounded
 * (ENV_MAX entries), a record's is taken whole (a run's holds its
 * definition's env and its own, up to twice the bound).
 */
static void
test_wire_record_unbounded(void)
{
	Batchd__V1__SubmitJobRunRequest	 m =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRun__EnvEntry	*ents, **pp;
	struct run			 r, back;
	struct request			 q;
	struct error			 e;
	struct buf			 b = { 0 };
	uint8_t				*buf;
	char				 k[ENV_MAX + 1][16];
	size_t				 i, n;

	memset(&r, 0, sizeof r);
	memset(&back, 0, sizeof back);
	uuid_new(r.uuid);
	r.ws = xstrdup("w");
	ents = xcalloc(ENV_MAX + 1, sizeof *ents);
	pp = xcalloc(ENV_MAX + 1, sizeof *pp);
	for (i = 0; i < ENV_MAX + 1; i++) {
		snprintf(k[i], sizeof k[i], "K%zu", i);
		kvlist_set(&r.env, k[i], "v");
		kvlist_set(&r.config.env, k[i], "v");
		batchd__v1__job_run__env_entry__init(&ents[i]);
		ents[i].key = k[i];
		ents[i].value = "v";
		pp[i] = &ents[i];
	}
	wire_encode_run(&b, &r);
	CHECK(wire_decode_run(b.p, b.len, &back) == 0);
	CHECK(back.env.n == ENV_MAX + 1 && back.config.env.n == ENV_MAX + 1);
	CHECK(strcmp(kvlist_get(&back.config.env, "K256"), "v") == 0);

	/* The same map in a request is refused, naming it. */
	m.n_env = ENV_MAX + 1;
	m.env = (Batchd__V1__SubmitJobRunRequest__EnvEntry **)pp;
	buf = xmalloc(protobuf_c_message_get_packed_size(&m.base));
	n = protobuf_c_message_pack(&m.base, buf);
	memset(&q, 0, sizeof q);
	memset(&e, 0, sizeof e);
	CHECK(wire_request_decode(verb_find("run.submit"), buf, n, &q,
	    &e) == -1);
	CHECK(e.code == E_INVALID && strcmp(e.field, "env") == 0);
	request_free(&q);
	free(buf);
	free(pp);
	free(ents);
	buf_free(&b);
	run_free(&r);
	run_free(&back);
}

/* Every verb listed is found by its name and has a decoder and handler. */
static void
test_verb_list(void)
{
	const struct verb_entry	*v;
	int			 i;

	for (i = 0; (v = verb_at(i)) != NULL; i++) {
		CHECK(verb_find(v->name) == v && verb_index(v) == i);
		CHECK(v->decode != NULL && v->exec != NULL &&
		    v->object != NULL);
		CHECK(strchr(v->name, '.') != NULL);
	}
	CHECK(i == 19 && i <= VERB_MAX);
	CHECK(verb_find("run.frobnicate") == NULL && verb_find("run") == NULL);
	CHECK(verb_index(NULL) == -1 && verb_at(-1) == NULL);
}

/* A token as wire_page_token() makes it, of any payload: a forgery. */
static char *
forge_token(int letter, const char *ws, const void *p, size_t n)
{
	uint8_t		 l = (uint8_t)letter;
	uint32_t	 crc;
	char		*tok;
	size_t		 i;

	crc = crc32_ieee(crc32_ieee(crc32_ieee(0, &l, 1), ws, strlen(ws) + 1),
	    p, n);
	tok = xmalloc(1 + 2 * n + 10);
	tok[0] = (char)letter;
	for (i = 0; i < n; i++)
		snprintf(tok + 1 + 2 * i, 3, "%02x", ((const uint8_t *)p)[i]);
	snprintf(tok + 1 + 2 * n, 10, ".%08x", crc);
	return tok;
}

/* A token decodes only as what it was made for: list, workspace, bytes. */
static void
test_wire_page_token(void)
{
	static const enum pagelist lists[] = {
		PAGE_JOBDEFS, PAGE_CLUSTERS, PAGE_RUNS
	};
	static const char	*garbage[] = { "garbage", "d", "c", "r", ".",
	    "d.", "d.0000000", "d00.00000000", "dzz.00000000",
	    "d61.000000000", "D61.00000000", "d6.00000000", "61.00000000",
	    "d61", "d61.0000000g", "a", "ca" };
	struct pagepos		 in, out;
	struct error		 e;
	char			*tok, *t2, name[NAME_MAX_LEN + 1], c;
	uint8_t			 raw[8 + UUID_LEN + 1];
	size_t			 i, j, k;
	const char		*hex = "0123456789abcdef";

	/* The longest name, multi-byte characters and dots included. */
	memset(name, 0, sizeof name);
	for (i = 0; i < NAME_MAX_LEN - 3; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	memcpy(name + i, "a.x", 3);
	CHECK(strlen(name) == NAME_MAX_LEN);
	for (i = 0; i < 3; i++) {
		memset(&in, 0, sizeof in);
		in.set = 1;
		if (lists[i] == PAGE_RUNS) {
			in.ts = 0x0123456789abcdefull;
			uuid_new(in.uuid);
		} else
			snprintf(in.name, sizeof in.name, "%s", name);
		tok = wire_page_token(lists[i], "w1", &in);
		CHECK(strlen(tok) <= WIRE_PAGE_TOKEN_MAX);
		memset(&e, 0, sizeof e);
		CHECK(wire_page_token_decode(lists[i], "w1", tok, &out,
		    &e) == 0);
		CHECK(memcmp(&in, &out, sizeof in) == 0);
		/* Not another workspace's, nor another list's. */
		CHECK(wire_page_token_decode(lists[i], "w2", tok, &out,
		    &e) == -1);
		CHECK(e.code == E_INVALID &&
		    strcmp(e.field, "page_token") == 0);
		CHECK(!out.set);
		for (j = 0; j < 3; j++)
			CHECK(j == i || wire_page_token_decode(lists[j], "w1",
			    tok, &out, &e) == -1);
		/* Every change of one character is caught. */
		t2 = xstrdup(tok);
		for (j = 1; t2[j] != '\0'; j++) {
			if (t2[j] == '.')
				continue;
			c = t2[j];
			for (k = 0; k < 16; k++) {
				if (hex[k] == c)
					continue;
				t2[j] = hex[k];
				CHECK(wire_page_token_decode(lists[i], "w1",
				    t2, &out, &e) == -1);
			}
			t2[j] = c;
		}
		free(t2);
		free(tok);
		for (j = 0; j < sizeof garbage / sizeof garbage[0]; j++)
			CHECK(wire_page_token_decode(lists[i], "w1",
			    garbage[j], &out, &e) == -1);
		/* No token: from the start. */
		CHECK(wire_page_token_decode(lists[i], "w1", NULL, &out,
		    &e) == 0 && !out.set);
		CHECK(wire_page_token_decode(lists[i], "w1", "", &out,
		    &e) == 0 && !out.set);
	}

	/* Forged with a good checksum, yet no position a list returns. */
	tok = forge_token('d', "w1", "a\0b", 3);		/* a NUL */
	CHECK(wire_page_token_decode(PAGE_JOBDEFS, "w1", tok, &out, &e) == -1);
	free(tok);
	tok = forge_token('c', "w1", "\xff\xfe", 2);	/* not UTF-8 */
	CHECK(wire_page_token_decode(PAGE_CLUSTERS, "w1", tok, &out,
	    &e) == -1);
	free(tok);
	tok = forge_token('d', "w1", "", 0);		/* empty */
	CHECK(wire_page_token_decode(PAGE_JOBDEFS, "w1", tok, &out, &e) == -1);
	free(tok);
	memset(raw, 0, sizeof raw);
	memcpy(raw + 8, "01A210BA-8990-7185-98D9-0BA2D17C16D2", UUID_LEN);
	tok = forge_token('r', "w1", raw, 8 + UUID_LEN);	/* upper case */
	CHECK(wire_page_token_decode(PAGE_RUNS, "w1", tok, &out, &e) == -1);
	free(tok);
	memcpy(raw + 8, "01a210ba-8990-7185-98d9-0ba2d17c16d2", UUID_LEN);
	tok = forge_token('r', "w1", raw, 8 + UUID_LEN + 1);	/* long */
	CHECK(wire_page_token_decode(PAGE_RUNS, "w1", tok, &out, &e) == -1);
	free(tok);
	tok = forge_token('r', "w1", raw, 8 + UUID_LEN);	/* fine */
	CHECK(wire_page_token_decode(PAGE_RUNS, "w1", tok, &out, &e) == 0);
	CHECK(out.set && out.ts == 0 && strcmp(out.uuid,
	    "01a210ba-8990-7185-98d9-0ba2d17c16d2") == 0);
	free(tok);
}

/* The decoder is what the three list verbs use, through the request. */
static void
test_wire_page_token_request(void)
{
	Batchd__V1__ListJobDefinitionsRequest	d =
	    BATCHD__V1__LIST_JOB_DEFINITIONS_REQUEST__INIT;
	Batchd__V1__ListClustersRequest		c =
	    BATCHD__V1__LIST_CLUSTERS_REQUEST__INIT;
	Batchd__V1__ListJobRunsRequest		r =
	    BATCHD__V1__LIST_JOB_RUNS_REQUEST__INIT;
	struct pagepos				 pos;
	struct request				 q;
	struct error				 e;
	char					*tok;
	char					 big[WIRE_PAGE_TOKEN_MAX + 2];

	memset(&pos, 0, sizeof pos);
	pos.set = 1;
	snprintf(pos.name, sizeof pos.name, "job-7");
	tok = wire_page_token(PAGE_JOBDEFS, "", &pos);
	d.page_token = tok;
	CHECK(decode("jobdef.list", &d.base, &q, &e) == 0);
	CHECK(q.page.set && strcmp(q.page.name, "job-7") == 0);
	request_free(&q);
	c.page_token = tok;
	CHECK(decode("cluster.list", &c.base, &q, &e) == -1);
	CHECK(e.code == E_INVALID && strcmp(e.field, "page_token") == 0);
	request_free(&q);
	r.page_token = tok;
	CHECK(decode("run.list", &r.base, &q, &e) == -1);
	CHECK(strcmp(e.field, "page_token") == 0);
	request_free(&q);
	free(tok);
	memset(big, 'd', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	d.page_token = big;
	CHECK(decode("jobdef.list", &d.base, &q, &e) == -1);
	CHECK(strcmp(e.field, "page_token") == 0);
	request_free(&q);
}

/*
 * A page filled as the list handlers fill it (items while their size fits
 * wire_list_room()) is a reply within reply_max, the longest next page
 * token included; one more item would not have fit.
 */
static void
test_wire_list_fits(void)
{
	struct request	 q;
	struct jobdef	 d[20];
	struct pagepos	 more;
	struct buf	 b = { 0 };
	char		 val[700];
	size_t		 i, room, n = 0, sz = 0;

	memset(&q, 0, sizeof q);
	q.reply_max = 4096;
	CHECK(wire_list_room(&q) < 4096);
	memset(d, 0, sizeof d);
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	for (i = 0; i < 20; i++) {
		uuid_new(d[i].uuid);
		d[i].ws = xstrdup("w");
		d[i].name = xmalloc(NAME_MAX_LEN + 1);
		memset(d[i].name, 'a' + (int)i, NAME_MAX_LEN);
		d[i].name[NAME_MAX_LEN] = '\0';
		d[i].config.source.type = SRC_GIT;
		d[i].config.source.token = xstrdup("a-long-secret-token");
		kvlist_set(&d[i].config.env, "API_TOKEN", val);
	}
	room = wire_list_room(&q);
	for (n = 0; n < 20 && (sz = wire_size_jobdef(&d[n])) <= room; n++)
		room -= sz;
	CHECK(n > 1 && n < 20);
	CHECK(sz > room);
	memset(&more, 0, sizeof more);
	more.set = 1;
	snprintf(more.name, sizeof more.name, "%s", d[n - 1].name);
	wire_reply_jobdefs(&b, "w", d, n, &more);
	CHECK(b.len <= q.reply_max);
	/* Secrets are masked in what was measured and sent. */
	CHECK(memmem(b.p, b.len, "a-long-secret-token", 19) == NULL);
	CHECK(memmem(b.p, b.len, val, 100) == NULL);
	q.reply_max = 0;
	CHECK(wire_list_room(&q) == SIZE_MAX);
	buf_free(&b);
	for (i = 0; i < 20; i++)
		jobdef_free(&d[i]);
}

/* ------------------------------------------------------------ validation */

static void
test_validate_config(void)
{
	struct jobconfig	c;
	struct error		e;

	memset(&c, 0, sizeof c);
	memset(&e, 0, sizeof e);
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source.type") == 0);
	c.source.type = SRC_WORKSPACE;
	c.source.oneof = SRC_GIT;
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source") == 0);
	c.source.oneof = SRC_WORKSPACE;
	c.source.path = "../up";
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source.workspace.path") == 0);
	c.source.path = "a/../../b";
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	c.source.path = "jobs";
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.type") == 0);
	c.type = JT_PYTHON;
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source_location") == 0);
	c.source_location = "x.py";
	c.args = "'unbalanced";
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.args") == 0);
	c.args = NULL;
	c.has_timeout = 1;
	c.timeout_s = 0;
	CHECK(jobdef_validate_config(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.timeout_seconds") == 0);
	c.has_timeout = 0;
	CHECK(jobdef_validate_config(&c, "config", &e) == 0);
	jobdef_fill_defaults(&c);
	CHECK(c.timeout_s == 3600 && c.retry.delay_s == 60 &&
	    c.retry.num_retries == 0 && !c.retry.on_timeout);
}

/* Every path key is made absolute and normal; links resolved if there. */
static void
test_config_resolve(void)
{
	struct config	*c;
	char		 cwd[PATH_MAX], want[PATH_MAX + 64], *cause = NULL;

	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(mkdir("real", 0700) == 0 && symlink("real", "link") == 0);
	setenv("BATCHD_DATA_DIR", "./var/..//x/./y/", 1);
	setenv("BATCHD_SHIM", "build/../bin/batchd-shim", 1);
	setenv("BATCHD_PLUGIN_DIR", "link", 1);
	setenv("BATCHD_NATS_TLS_CA", "/etc/../etc//ssl/./ca.pem", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_DATA_DIR");
	unsetenv("BATCHD_SHIM");
	unsetenv("BATCHD_PLUGIN_DIR");
	unsetenv("BATCHD_NATS_TLS_CA");
	CHECK(c != NULL);
	CHECK(strcmp(c->data_dir, "./var/..//x/./y/") == 0);	/* as given */
	CHECK(config_resolve(c, &cause) == 0);
	snprintf(want, sizeof want, "%s/x/y", cwd);
	CHECK(strcmp(c->data_dir, want) == 0);
	snprintf(want, sizeof want, "%s/x/y/workspaces", cwd);
	CHECK(strcmp(c->workspace_root, want) == 0);
	snprintf(want, sizeof want, "%s/bin/batchd-shim", cwd);
	CHECK(strcmp(c->shim, want) == 0);
	snprintf(want, sizeof want, "%s/real", cwd);
	CHECK(strcmp(c->plugin_dir, want) == 0);
	CHECK(strcmp(c->nats_tls_ca, "/etc/ssl/ca.pem") == 0);
	CHECK(c->nats_tls_key == NULL);		/* unset stays unset */
	/* Once resolved, resolving again changes nothing. */
	snprintf(want, sizeof want, "%s", c->data_dir);
	CHECK(config_resolve(c, &cause) == 0);
	CHECK(strcmp(c->data_dir, want) == 0);
	config_free(c);
}

static uid_t	fake_euid;

static uid_t
fake_geteuid(void)
{
	return fake_euid;
}

/* As whom jobs run, from job_user, job_uid_range and batchd's own uid. */
static void
test_config_job_user(void)
{
	static const char *bad[] = { "5-4", "0-10", "1-4294967295", "12",
	    "a-b", "-3", "3-", "1-2x" };
	struct config	*c;
	struct passwd	*nobody = getpwnam("nobody");
	char		*cause = NULL;
	size_t		 i;

	config_geteuid = fake_geteuid;
	fake_euid = 0;
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_WORKSPACE);
	CHECK(c->job_uid_lo == 2000000000u && c->job_uid_hi == 2000065535u);
	config_free(c);
	setenv("BATCHD_JOB_USER", "root", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	if (nobody != NULL) {
		setenv("BATCHD_JOB_USER", "nobody", 1);
		c = config_load(NULL, &cause);
		CHECK(c != NULL && c->job_mode == JU_USER);
		CHECK(c->job_uid == nobody->pw_uid &&
		    c->job_gid == nobody->pw_gid);
		config_free(c);
	}
	setenv("BATCHD_JOB_USER", "no-such-user-here", 1);
	c = config_load(NULL, &cause);
	CHECK(c == NULL && strstr(cause, "job_user") != NULL);
	free(cause);

	/* Not root: jobs run as batchd; a named user is an error. */
	fake_euid = 1000;
	setenv("BATCHD_JOB_USER", "workspace", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	setenv("BATCHD_JOB_USER", "root", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	setenv("BATCHD_JOB_USER", "nobody", 1);
	c = config_load(NULL, &cause);
	CHECK(c == NULL && strstr(cause, "job_user") != NULL &&
	    strstr(cause, "root") != NULL);
	free(cause);
	unsetenv("BATCHD_JOB_USER");

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("BATCHD_JOB_UID_RANGE", bad[i], 1);
		c = config_load(NULL, &cause);
		CHECK(c == NULL && strstr(cause, "job_uid_range") != NULL);
		free(cause);
	}
	setenv("BATCHD_JOB_UID_RANGE", "7-7", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_JOB_UID_RANGE");
	CHECK(c != NULL && c->job_uid_lo == 7 && c->job_uid_hi == 7);
	config_free(c);
	config_geteuid = geteuid;
}

/* ------------------------------------------------------------ store */

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

static void
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
static long
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

static int
stored(const char *key)
{
	return stored_len(key) != -1;
}

static void
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
static void
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

/* One batchd per data directory: a second open fails at once. */
static void
test_store_one_owner(void)
{
	char	*cause = NULL;
	pid_t	 pid;
	int	 st;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		/* The lock is the open file's: a new open is another owner. */
		if (store_open(".", 1 << 20, &cause) == 0)
			_exit(1);
		_exit(strstr(cause, "another batchd") != NULL ? 0 : 2);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	store_close();
	CHECK(store_open(".", 1 << 20, &cause) == 0);	/* free again */
	store_close();
}

/* A failed op's overwrites are undone, in the same turn as good ops. */
static void
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
static void
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
static void
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

static void
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
static void
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
static void
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

/*
 * Run fn in a child that ends without store_close(): a crash, as far as
 * storage is concerned (what it acknowledged is in the redo log only). It
 * must exit with code (0: fn's checks passed).
 */
static void
exits(void (*fn)(void), int code)
{
	pid_t	pid;
	int	st;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		fn();
		_exit(failed ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code);
}

static void
crashed(void (*fn)(void))
{
	exits(fn, 0);
}

/* Whether key is in LMDB itself, the redo log not applied: 1, 0, -1. */
static int
in_lmdb(const char *key)
{
	MDB_env	*env;
	MDB_txn	*t;
	MDB_dbi	 dbi;
	MDB_val	 k = { strlen(key), (void *)key }, v;
	int	 rc;

	if (mdb_env_create(&env) != 0)
		return -1;
	mdb_env_set_maxdbs(env, 16);
	if ((rc = mdb_env_open(env, "./lmdb", MDB_RDONLY, 0600)) == 0 &&
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t)) == 0) {
		if ((rc = mdb_dbi_open(t, "meta", 0, &dbi)) == 0)
			rc = mdb_get(t, dbi, &k, &v);
		mdb_txn_abort(t);
	}
	mdb_env_close(env);
	return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : -1;
}

static void
three_turns(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("a", 10, 0, &done, &frc);
	put("b", 10, EIO, &done, &frc);	/* fails: not in the log */
	store_flush_now();
	put("c", 5000, 0, &done, &frc);	/* a frame of two blocks */
	store_flush_now();
	put("d", 10, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 3 && frc == EIO);
}

/* Acknowledged turns survive a crash through the redo log. */
static void
test_store_redo_replay(void)
{
	char	*cause = NULL;

	crashed(three_turns);
	CHECK(in_lmdb("a") == 0);		/* no checkpoint was made */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("b") && stored("c") && stored("d"));
	store_close();
	CHECK(in_lmdb("a") == 1 && in_lmdb("d") == 1);	/* the open checkpointed */
	/* The log starts over: a crash now replays nothing old. */
	crashed(three_turns);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("b") && stored("c") && stored("d"));
	store_close();
}

static int	sync_fails;	/* so many frame syncs fail next (EIO) */

/* The frame is on disk all the same: what a failing disk may do. */
static int
failing_fdatasync(int fd)
{
	if (sync_fails == 0)
		return fdatasync(fd);
	sync_fails--;
	(void)fdatasync(fd);
	errno = EIO;
	return -1;
}

static void
syncs_fail(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	redo_fdatasync = failing_fdatasync;
	sync_fails = 1;
	put("x", 10, 0, &done, &frc);	/* the generation's first frame */
	store_flush_now();
	CHECK(done == 0 && frc == EIO);
	put("a", 10, 0, &done, &frc);
	store_flush_now();
	sync_fails = 1;
	frc = 0;
	put("b", 10, 0, &done, &frc);	/* a later frame */
	store_flush_now();
	CHECK(frc == EIO);
	put("c", 10, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 2 && stored("a") && !stored("b") && stored("c"));
}

/*
 * A frame whose sync failed may be on disk all the same: its ops were
 * answered as failed, so a crash's replay may not apply it (its generation
 * is ended at once), whether it was the first frame of its generation or
 * a later one.
 */
static void
test_store_redo_sync_fails(void)
{
	char	*cause = NULL;

	crashed(syncs_fail);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(!stored("x") && stored("a") && !stored("b") && stored("c"));
	store_close();
}

static int
failing_commit(MDB_txn *t)
{
	mdb_txn_abort(t);
	return EIO;
}

/* The frame's sync fails, then the checkpoint that would end its
 * generation fails too. */
static void
sync_and_checkpoint_fail(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	redo_fdatasync = failing_fdatasync;
	store_txn_commit = failing_commit;
	sync_fails = 1;
	put("x", 10, 0, &done, &frc);
	store_flush_now();		/* exits: nothing may be answered */
	CHECK(!"store_flush_now() returned");
}

/*
 * Neither the frame nor a checkpoint could be made sure of: batchd stops
 * without answering (EXIT_SOFTWARE), and the next start reads what is on
 * disk (here the frame, which reached it).
 */
static void
test_store_redo_sync_fails_fatal(void)
{
	char	*cause = NULL;

	exits(sync_and_checkpoint_fail, EXIT_SOFTWARE);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("x"));
	store_close();
}

/* A torn frame (its sync never returned) and all after it are ignored. */
static void
test_store_redo_torn(void)
{
	char	*cause = NULL;
	uint8_t	 x;
	int	 fd;

	crashed(three_turns);
	/* Frames: "a" at 0, "c" at 4096 (two blocks), "d" at 12288. */
	CHECK((fd = open("lmdb/redo", O_RDWR)) != -1);
	CHECK(pread(fd, &x, 1, 4096 + 100) == 1);
	x ^= 0xff;
	CHECK(pwrite(fd, &x, 1, 4096 + 100) == 1);
	close(fd);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("c") && !stored("d"));
	store_close();
}

static void
many_turns(void)
{
	static char	 keys[300][8];
	char		*cause = NULL;
	struct stat	 sb;
	int		 done = 0, frc = 0, i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	for (i = 0; i < 300; i++) {
		snprintf(keys[i], sizeof keys[i], "m%d", i);
		put(keys[i], 60 * 1024, 0, &done, &frc);
		store_flush_now();
	}
	CHECK(done == 300 && frc == 0);
	/* Checkpoints kept the log short (17.6 MiB were logged). */
	CHECK(stat("lmdb/redo", &sb) == 0 && sb.st_size <= 10 << 20);
}

/* Checkpoints on the way: everything is there after a crash. */
static void
test_store_redo_checkpoints(void)
{
	char	*cause = NULL;
	char	 key[8];
	int	 i;

	crashed(many_turns);
	CHECK(in_lmdb("m0") == 1);		/* a checkpoint was made */
	CHECK(in_lmdb("m299") == 0);	/* and the log had the rest */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "m%d", i);
		CHECK(stored(key));
	}
	store_close();
}

static void
test_store_map_grows(void)
{
	static char	 keys[64][8];
	char		*cause = NULL;
	size_t		 before;
	int		 done = 0, frc = 0, i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	before = store_map_size();
	for (i = 0; i < 64; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		put(keys[i], 64 * 1024, 0, &done, &frc);
	}
	store_flush_now();
	CHECK(frc == 0);
	CHECK(done == 64);
	CHECK(store_map_size() > before);
	for (i = 0; i < 64; i++)
		CHECK(stored(keys[i]));
	store_close();
}

/* Pages of this process's mapping of ./lmdb/data.mdb that are mapped. */
static long
mapped_pages(void)
{
	unsigned long	lo = 0, hi = 0, a;
	uint64_t	e;
	char		line[4096];
	long		n = 0;
	FILE		*f;
	int		fd;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "/lmdb/data.mdb\n") != NULL &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			break;
	fclose(f);
	if (hi == 0 || (fd = open("/proc/self/pagemap", O_RDONLY)) == -1)
		return -1;
	for (a = lo; a < hi; a += 4096)
		if (pread(fd, &e, sizeof e, (off_t)(a / 4096 * 8)) == sizeof e &&
		    e >> 63)
			n++;
	close(fd);
	return n;
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * A checkpoint drops the process's mappings of the data file: reads after
 * each checkpoint find the pages it moved at new places, and the mappings
 * of every place they ever were must not pile up in the RSS.
 */
static void
test_store_checkpoint_unmaps(void)
{
	static char	 keys[32][8];
	struct timeval	 tv = { 1, 300000 };	/* past CKPT_MS */
	struct event	*t;
	char		*cause = NULL;
	MDB_txn		*r;
	MDB_val		 k, v;
	unsigned long	 sum = 0;
	long		 before, after;
	int		 done = 0, frc = 0, i, j;

	CHECK(store_open(".", 8 << 20, &cause) == 0);
	for (i = 0; i < 32; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		put(keys[i], 64 * 1024, 0, &done, &frc);
	}
	store_flush_now();
	CHECK(done == 32 && frc == 0);
	store_close();			/* into LMDB: read from the map now */
	CHECK(store_open(".", 8 << 20, &cause) == 0);
	CHECK((r = store_reader()) != NULL);
	for (i = 0; i < 32; i++) {
		k.mv_data = keys[i];
		k.mv_size = strlen(keys[i]);
		CHECK(mdb_get(r, store_dbi(DB_META), &k, &v) == 0);
		for (j = 0; j < (int)v.mv_size; j += 4096)
			sum += ((const uint8_t *)v.mv_data)[j];
	}
	CHECK(sum == 0);
	before = mapped_pages();
	CHECK(before >= 32 * 16);		/* 2 MiB read */
	t = evtimer_new(base, stop_loop, base);
	evtimer_add(t, &tv);
	event_base_dispatch(base);		/* the checkpoint timer fires */
	event_free(t);
	after = mapped_pages();
	CHECK(after >= 0 && after < 16);
	for (i = 0; i < 32; i++)		/* what was mapped reads again */
		CHECK(stored_len(keys[i]) == 64 * 1024);
	store_close();
}

static void
test_store_map_limit(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	/* A value larger than 64 times the map can never fit. */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("huge", 80u << 20, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 0);
	CHECK(frc == MDB_MAP_FULL);
	CHECK(!stored("huge"));
	store_close();
}

static void
test_store_schema_mismatch(void)
{
	MDB_env	*env;
	MDB_txn	*t;
	MDB_dbi	 dbi;
	MDB_val	 k = { 14, "schema_version" }, v = { 2, "99" };
	char	*cause = NULL;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	store_close();
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", 0, &dbi) == 0);
	CHECK(mdb_put(t, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);
	CHECK(store_open(".", 1 << 20, &cause) == -1);
	CHECK(strstr(cause, "schema version") != NULL);
	free(cause);
}

/*
 * Confirmed log offsets (logs.c): kept per (run, attempt, stream) under
 * "logack/{run}" + attempt (4 bytes, big-endian) + stream; a purge's
 * logs_forget() removes every one of its run and no other's.
 */
#define ACK_A	"0190f0a0-0000-7000-8000-00000000000a"
#define ACK_B	"0190f0a0-0000-7000-8000-00000000000b"

struct ack_op {
	struct op	 op;
	int		 step;		/* 0 store, 1 forget A, 2 read */
	uint64_t	 got[3];
};

static int
ack_test_apply(struct op *op, struct txn *t)
{
	struct ack_op	*a = (struct ack_op *)op;
	static const struct {
		const char	*run;
		uint32_t	 attempt;
		enum logstream	 s;
	} keys[3] = {
		{ ACK_A, 1, LS_STDOUT }, { ACK_A, 2, LS_STDERR },
		{ ACK_B, 1, LS_STDOUT },
	};
	uint8_t		 k[7 + UUID_LEN + 5], v[8];
	int		 i, rc;

	for (i = 0; i < 3; i++) {
		if (a->step == 2) {
			a->got[i] = logs_acked(t, keys[i].run,
			    keys[i].attempt, keys[i].s);
			continue;
		}
		if (a->step == 1)
			return logs_forget(t, ACK_A);
		memcpy(k, "logack/", 7);
		memcpy(k + 7, keys[i].run, UUID_LEN);
		be64_put(v, keys[i].attempt);
		memcpy(k + 7 + UUID_LEN, v + 4, 4);	/* its low 4 bytes */
		k[7 + UUID_LEN + 4] = (uint8_t)keys[i].s;
		be64_put(v, 1000 * (uint64_t)(i + 1));
		if ((rc = store_put(t, DB_META, k, sizeof k, v, 8)) != 0)
			return rc;
	}
	return 0;
}

static void
ack_test_free(struct op *op)
{
	(void)op;
}

static void
ack_test_fail(struct op *op, int rc)
{
	(void)op;
	snprintf(why, sizeof why, "ack op failed: %s", mdb_strerror(rc));
	failed = 1;
}

static void
ack_test_step(struct ack_op *a, int step)
{
	memset(a, 0, sizeof *a);
	a->op.apply = ack_test_apply;
	a->op.free = ack_test_free;
	a->op.fail = ack_test_fail;
	a->step = step;
	store_submit(&a->op);
	store_flush_now();
}

static void
test_logs_acked_forget(void)
{
	struct ack_op	a;
	char		*cause = NULL;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	ack_test_step(&a, 0);
	ack_test_step(&a, 2);
	CHECK(a.got[0] == 1000 && a.got[1] == 2000 && a.got[2] == 3000);
	ack_test_step(&a, 1);
	ack_test_step(&a, 2);
	CHECK(a.got[0] == 0 && a.got[1] == 0 && a.got[2] == 3000);
	store_close();
}

/* Schema 1 (runs and events keyed by uuid) opens as schema 2. */
struct runs_op {
	struct op	 op;
	int		 rc;
	uint64_t	 id[2];
	int		 events;
};

static int
runs_apply(struct op *op, struct txn *t)
{
	static const char *uuids[2] = {
	    "00000000-0000-4000-8000-00000000000b",
	    "00000000-0000-4000-8000-00000000000a" };
	struct runs_op	*o = (struct runs_op *)op;
	struct run	 r;
	MDB_val		 v;
	uint8_t		 k[16];
	int		 i, seq;

	for (i = 0; i < 2; i++) {
		memset(&r, 0, sizeof r);
		if ((o->rc = store_get_run(t, uuids[i], &r)) != 0)
			return 0;
		o->id[i] = r.id;
		for (seq = 1; seq <= 2; seq++) {
			store_event_key(k, r.id, (uint64_t)seq);
			if (store_get(t, DB_EVENTS, k, sizeof k, &v) == 0 &&
			    v.mv_size == 2)
				o->events++;
		}
		run_free(&r);
	}
	return 0;
}

static void
runs_done(struct op *op)
{
	(void)op;
}

static void
runs_fail(struct op *op, int rc)
{
	((struct runs_op *)op)->rc = rc;
}

static void
test_store_migrate_1(void)
{
	static const char *uuids[2] = {
	    "00000000-0000-4000-8000-00000000000a",
	    "00000000-0000-4000-8000-00000000000b" };
	struct runs_op	 o = { { runs_apply, runs_fail, runs_done,
	    { NULL, NULL } }, -1, { 0, 0 }, 0 };
	struct run	 r;
	struct buf	 b = { 0 };
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 meta, runs, events;
	MDB_val		 k, v;
	uint8_t		 ek[UUID_LEN + 8];
	char		*cause = NULL;
	int		 i, seq;

	CHECK(mkdir("lmdb", 0700) == 0);
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", MDB_CREATE, &meta) == 0);
	CHECK(mdb_dbi_open(t, "runs", MDB_CREATE, &runs) == 0);
	CHECK(mdb_dbi_open(t, "events", MDB_CREATE, &events) == 0);
	k.mv_data = "schema_version";
	k.mv_size = 14;
	v.mv_data = "1";
	v.mv_size = 1;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	for (i = 0; i < 2; i++) {	/* "…0b" was submitted first */
		memset(&r, 0, sizeof r);
		snprintf(r.uuid, sizeof r.uuid, "%s", uuids[i]);
		r.ws = "w";
		r.status = RS_SUCCEEDED;
		r.submitted_ms = 2000 - 1000 * i;
		r.event_seq = 2;
		b.len = 0;
		wire_encode_run(&b, &r);
		k.mv_data = r.uuid;
		k.mv_size = UUID_LEN;
		v.mv_data = b.p;
		v.mv_size = b.len;
		CHECK(mdb_put(t, runs, &k, &v, 0) == 0);
		for (seq = 1; seq <= 2; seq++) {
			memcpy(ek, r.uuid, UUID_LEN);
			be64_put(ek + UUID_LEN, (uint64_t)seq);
			k.mv_data = ek;
			k.mv_size = sizeof ek;
			v.mv_data = "ev";
			v.mv_size = 2;
			CHECK(mdb_put(t, events, &k, &v, 0) == 0);
		}
	}
	buf_free(&b);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	store_submit(&o.op);
	store_flush_now();
	CHECK(o.rc == 0);
	CHECK(o.id[0] == 1 && o.id[1] == 2);	/* in submission order */
	CHECK(o.events == 4);
	store_close();
}


/* ------------------------------------------------------------ snapshots */

/* An op that runs fn in the turn's transaction (its checks after). */
struct fn_op {
	struct op	 op;
	int		(*fn)(struct txn *, void *);
	void		*arg;
	int		 rc;
};

static int
fn_apply(struct op *op, struct txn *t)
{
	struct fn_op	*o = (struct fn_op *)op;

	o->rc = o->fn(t, o->arg);
	return o->rc;
}

static void
fn_done(struct op *op)
{
	(void)op;
}

static void
fn_fail(struct op *op, int rc)
{
	((struct fn_op *)op)->rc = rc;
}

/* Run fn(t, arg) as one op of its own turn: its rc. */
static int
in_turn(int (*fn)(struct txn *, void *), void *arg)
{
	struct fn_op	o = { { fn_apply, fn_fail, fn_done, { NULL, NULL } },
	    fn, arg, -1 };

	store_submit(&o.op);
	store_flush_now();
	return o.rc;
}

static size_t
entries(struct txn *t, int db)
{
	MDB_stat	st;

	if (mdb_stat(store_mdb_txn(t), store_dbi(db), &st) != 0)
		return (size_t)-1;
	return st.ms_entries;
}

/* A definition's configuration with an env of n bytes in one value. */
static void
big_config(struct jobconfig *c, size_t n, const char *loc)
{
	char	*v = xmalloc(n + 1);

	memset(c, 0, sizeof *c);
	c->type = JT_PYTHON;
	c->source.type = c->source.oneof = SRC_WORKSPACE;
	c->source.path = xstrdup("jobs");
	c->source_location = xstrdup(loc);
	c->args = xstrdup("--def");
	memset(v, 'v', n);
	v[n] = '\0';
	kvlist_set(&c->env, "BIG", v);
	kvlist_set(&c->env, "B", "from-def");
	free(v);
	jobdef_fill_defaults(c);
}

struct snap_check {
	uint8_t		 ref[4][CONFIG_REF_LEN];
	size_t		 configs[4];
	int		 slot1;		/* the collided one went to probe 1 */
	int		 same_back;	/* probe 1 holds the config's bytes */
};

static int
snap_fn(struct txn *t, void *arg)
{
	struct snap_check	*s = arg;
	struct jobconfig	 a, b;
	struct buf		 enc = { 0 };
	MDB_val			 v;
	int			 rc;

	big_config(&a, 5000, "a.py");
	big_config(&b, 5000, "b.py");
	if ((rc = store_config_ref(t, &a, s->ref[0])) != 0 ||
	    (rc = store_config_ref(t, &a, s->ref[1])) != 0 ||
	    (rc = store_config_ref(t, &b, s->ref[2])) != 0)
		goto out;
	s->configs[0] = entries(t, DB_CONFIGS);
	/* Another snapshot whose hash begins as a's: its bytes differ. */
	if ((rc = store_put(t, DB_CONFIGS, s->ref[0], CONFIG_REF_LEN, "other",
	    5)) != 0 || (rc = store_config_ref(t, &a, s->ref[3])) != 0)
		goto out;
	s->slot1 = memcmp(s->ref[3], s->ref[0], 16) == 0 &&
	    s->ref[3][CONFIG_REF_LEN - 1] == 1;
	wire_encode_jobconfig(&enc, &a);
	s->same_back = store_get(t, DB_CONFIGS, s->ref[3], CONFIG_REF_LEN,
	    &v) == 0 && v.mv_size == enc.len &&
	    memcmp(v.mv_data, enc.p, enc.len) == 0;
	s->configs[1] = entries(t, DB_CONFIGS);
out:
	buf_free(&enc);
	jobconfig_free(&a);
	jobconfig_free(&b);
	return rc;
}

/* Equal configurations share one snapshot, and one whose hash prefix is
 * taken by other bytes gets the next probe, never the other's bytes. */
static void
test_store_config_shared(void)
{
	struct snap_check	 s;
	char			*cause = NULL;

	memset(&s, 0, sizeof s);
	CHECK(store_open(".", 1 << 22, &cause) == 0);
	CHECK(in_turn(snap_fn, &s) == 0);
	CHECK(memcmp(s.ref[0], s.ref[1], CONFIG_REF_LEN) == 0);
	CHECK(memcmp(s.ref[0], s.ref[2], CONFIG_REF_LEN) != 0);
	CHECK(s.configs[0] == 2);
	CHECK(s.slot1 && s.same_back);
	CHECK(s.configs[1] == 3);
	store_close();
}

/* Old records (schema 2): ids 1 and 2 of one definition (2 with args and
 * env of its own), 3 a SQL run in another workspace. */
static const char *mig_uuids[3] = {
    "00000000-0000-4000-8000-0000000000a1",
    "00000000-0000-4000-8000-0000000000a2",
    "00000000-0000-4000-8000-0000000000a3" };

struct mig_check {
	struct run	 r[3];
	size_t		 rec_size[3];
	size_t		 configs[3];	/* at first, after 1 and 2 went */
	uint64_t	 runs_w, runs_v, defs_w, runs_w_after;
	int		 rc[3];
};

static int
mig_fn(struct txn *t, void *arg)
{
	struct mig_check	*m = arg;
	MDB_val			 v;
	uint8_t			 k[8];
	int			 i, rc;

	for (i = 0; i < 3; i++) {
		if ((m->rc[i] = store_get_run(t, mig_uuids[i], &m->r[i])) != 0)
			continue;
		be64_put(k, m->r[i].id);
		if (store_get(t, DB_RUNS, k, 8, &v) == 0)
			m->rec_size[i] = v.mv_size;
	}
	m->configs[0] = entries(t, DB_CONFIGS);
	if ((rc = store_ws_count(t, "runs", "w", 0, &m->runs_w)) != 0 ||
	    (rc = store_ws_count(t, "runs", "v", 0, &m->runs_v)) != 0 ||
	    (rc = store_ws_count(t, "jobdefs", "w", 0, &m->defs_w)) != 0)
		return rc;
	if (m->rc[0] != 0 || m->rc[1] != 0)
		return 0;
	if ((rc = store_del_run(t, &m->r[0])) != 0)
		return rc;
	m->configs[1] = entries(t, DB_CONFIGS);
	if ((rc = store_del_run(t, &m->r[1])) != 0)
		return rc;
	m->configs[2] = entries(t, DB_CONFIGS);
	return store_ws_count(t, "runs", "w", 0, &m->runs_w_after);
}

/*
 * Schema 2 -> 3, from records written the old way: every run's
 * configuration is what it was, the runs of one definition share one
 * snapshot whatever their own args and env, a record no longer carries
 * the configuration, the workspaces' counts are made, and purging the
 * runs gives the snapshot back.
 */
static void
test_store_migrate_2(void)
{
	struct mig_check m;
	struct jobdef	 d;
	struct run	 r;
	struct buf	 b = { 0 };
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 meta, runs, ids, defs;
	MDB_val		 k, v;
	uint64_t	 n = 3;
	uint8_t		 ik[8];
	size_t		 old_size = 0;
	char		*cause = NULL;
	int		 i;

	memset(&m, 0, sizeof m);
	memset(&d, 0, sizeof d);
	CHECK(mkdir("lmdb", 0700) == 0);
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 1 << 22);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", MDB_CREATE, &meta) == 0);
	CHECK(mdb_dbi_open(t, "runs_by_id", MDB_CREATE, &runs) == 0);
	CHECK(mdb_dbi_open(t, "run_ids", MDB_CREATE, &ids) == 0);
	CHECK(mdb_dbi_open(t, "jobdefs", MDB_CREATE, &defs) == 0);
	k.mv_data = "schema_version";
	k.mv_size = 14;
	v.mv_data = "2";
	v.mv_size = 1;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	k.mv_data = "run_id";
	k.mv_size = 6;
	v.mv_data = &n;
	v.mv_size = sizeof n;
	CHECK(mdb_put(t, meta, &k, &v, 0) == 0);
	snprintf(d.uuid, sizeof d.uuid, "00000000-0000-4000-8000-0000000000d1");
	d.ws = xstrdup("w");
	d.name = xstrdup("big");
	big_config(&d.config, 20000, "job.py");
	wire_encode_jobdef(&b, &d);
	k.mv_data = d.uuid;
	k.mv_size = UUID_LEN;
	v.mv_data = b.p;
	v.mv_size = b.len;
	CHECK(mdb_put(t, defs, &k, &v, 0) == 0);
	for (i = 0; i < 3; i++) {
		memset(&r, 0, sizeof r);
		snprintf(r.uuid, sizeof r.uuid, "%s", mig_uuids[i]);
		r.ws = xstrdup(i < 2 ? "w" : "v");
		r.status = RS_SUCCEEDED;
		r.submitted_ms = 1000 + i;
		if (i < 2) {	/* as run_submit() of schema 2 made it */
			memcpy(r.def_uuid, d.uuid, sizeof r.def_uuid);
			jobconfig_copy(&r.config, &d.config);
		} else {
			r.config.type = JT_SQL;
			jobdef_fill_defaults(&r.config);
			r.sql = xstrdup("select 1");
		}
		if (i == 1) {
			r.has_args = 1;
			r.args = xstrdup("--run");
			free(r.config.args);
			r.config.args = xstrdup("--run");
			kvlist_set(&r.env, "B", "from-run");
			kvlist_set(&r.env, "C", "new");
			kvlist_set(&r.config.env, "B", "from-run");
			kvlist_set(&r.config.env, "C", "new");
		}
		r.type = r.config.type;
		wire_encode_run(&b, &r);
		old_size = b.len > old_size ? b.len : old_size;
		be64_put(ik, (uint64_t)i + 1);
		k.mv_data = ik;
		k.mv_size = 8;
		v.mv_data = b.p;
		v.mv_size = b.len;
		CHECK(mdb_put(t, runs, &k, &v, 0) == 0);
		k.mv_data = r.uuid;
		k.mv_size = UUID_LEN;
		v.mv_data = ik;
		v.mv_size = 8;
		CHECK(mdb_put(t, ids, &k, &v, 0) == 0);
		run_free(&r);
	}
	buf_free(&b);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);
	CHECK(old_size > 20000);

	CHECK(store_open(".", 1 << 22, &cause) == 0);
	CHECK(in_turn(mig_fn, &m) == 0);
	CHECK(m.rc[0] == 0 && m.rc[1] == 0 && m.rc[2] == 0);
	/* Each run executes what it did. */
	CHECK(m.r[0].has_config_ref && m.r[1].has_config_ref);
	CHECK(strcmp(m.r[0].config.args, "--def") == 0);
	CHECK(strcmp(m.r[1].config.args, "--run") == 0);
	CHECK(strcmp(kvlist_get(&m.r[0].config.env, "B"), "from-def") == 0);
	CHECK(strcmp(kvlist_get(&m.r[1].config.env, "B"), "from-run") == 0);
	CHECK(strcmp(kvlist_get(&m.r[1].config.env, "C"), "new") == 0);
	CHECK(kvlist_get(&m.r[0].config.env, "C") == NULL);
	CHECK(strlen(kvlist_get(&m.r[1].config.env, "BIG")) == 20000);
	CHECK(m.r[0].config.env.n == 2 && m.r[1].config.env.n == 3);
	CHECK(strcmp(m.r[0].config.source_location, "job.py") == 0);
	CHECK(m.r[2].config.type == JT_SQL && m.r[2].config.env.n == 0);
	/* Two snapshots: the definition's (runs 1 and 2), the SQL one. */
	CHECK(m.configs[0] == 2);
	CHECK(m.rec_size[0] < 1000 && m.rec_size[1] < 1000);
	CHECK(m.runs_w == 2 && m.runs_v == 1 && m.defs_w == 1);
	/* Purged: the last run of a snapshot takes it along. */
	CHECK(m.configs[1] == 2 && m.configs[2] == 1);
	CHECK(m.runs_w_after == 0);
	for (i = 0; i < 3; i++)
		run_free(&m.r[i]);
	store_close();
	jobdef_free(&d);
	/* Migrated once: opens as schema 3. */
	CHECK(store_open(".", 1 << 22, &cause) == 0);
	store_close();
}

/* ------------------------------------------------------------ runner */

static const struct {
	const char	*name;
	void		(*fn)(void);
} tests[] = {
#define T(n)	{ #n, n }
	T(test_uuid_order),
	T(test_crc32),
	T(test_config_defaults),
	T(test_config_file),
	T(test_config_unknown_key),
	T(test_config_bad_value),
	T(test_config_env),
	T(test_config_missing_file),
	T(test_config_resolve),
	T(test_config_job_user),
	T(test_split_words),
	T(test_utf8),
	T(test_names),
	T(test_mkdir_p),
	T(test_nats_msg_free),
	T(test_wire_garbage),
	T(test_wire_bounds),
	T(test_wire_page_size),
	T(test_wire_run_roundtrip),
	T(test_wire_record_unbounded),
	T(test_verb_list),
	T(test_wire_logchunk_head),
	T(test_wire_page_token),
	T(test_wire_page_token_request),
	T(test_wire_list_fits),
	T(test_validate_config),
	T(test_store_group_commit),
	T(test_store_lazy_rides_along),
	T(test_store_migrate_1),
	T(test_store_migrate_2),
	T(test_store_config_shared),
	T(test_store_undo),
	T(test_store_undo_mixed),
	T(test_store_one_owner),
	T(test_store_ws_uid),
	T(test_store_redo_replay),
	T(test_store_redo_torn),
	T(test_store_redo_sync_fails),
	T(test_store_redo_sync_fails_fatal),
	T(test_store_redo_checkpoints),
	T(test_store_map_grows),
	T(test_store_map_limit),
	T(test_store_checkpoint_unmaps),
	T(test_store_schema_mismatch),
	T(test_logs_acked_forget),
	T(test_store_late_effects),
	T(test_store_late_after_writes),
	T(test_store_then),
	T(test_cgroup_names),
	T(test_cgroup_kill),
	T(test_cgroup_pids),
	T(test_cgroup_memory),
	T(test_cgroup_usage),
	T(test_cgroup_cpu),
	T(test_cgroup_parent_paths),
#undef T
};

int
main(int argc, char **argv)
{
	char	 tmpl[] = "/tmp/batchd-unit.XXXXXX", cmd[64], *dir, top[4096];
	size_t	 i;
	int	 passed = 0, nfailed = 0, nskipped = 0;

	(void)argc;
	(void)argv;
	log_init(LOG_LVL_ERROR);
	if ((base = event_base_new()) == NULL)
		return 2;
	event_base_priority_init(base, 3);
	if (getcwd(top, sizeof top) == NULL)
		return 2;
	for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		strcpy(tmpl, "/tmp/batchd-unit.XXXXXX");
		if ((dir = mkdtemp(tmpl)) == NULL || chdir(dir) == -1)
			return 2;
		fresh_config();
		failed = 0;
		skip_note[0] = '\0';
		tests[i].fn();
		if (failed) {
			printf("FAIL %s: %s\n", tests[i].name, why);
			nfailed++;
		} else if (skip_note[0] != '\0') {
			printf("ok   %s # skipped: %s\n", tests[i].name,
			    skip_note);
			passed++;
			nskipped++;
		} else {
			printf("ok   %s\n", tests[i].name);
			passed++;
		}
		if (chdir(top) == -1)
			return 2;
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 2;
	}
	config_free(cfg);
	event_base_free(base);
	if (nskipped != 0)
		printf("unit: %d passed, %d failed, %d skipped\n", passed,
		    nfailed, nskipped);
	else
		printf("unit: %d passed, %d failed\n", passed, nfailed);
	return nfailed != 0;
}
