/*
 * wire.c's tests: requests decoded with their bounds, records and
 * replies converted and sized, page tokens, a log chunk's head.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/*
 * A LogChunk's head, then its data: one message, every field as given,
 * encoded (ZSTD, with its size) or not.
 */
void
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

void
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

void
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

void
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

void
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
void
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
void
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
void
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
void
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
