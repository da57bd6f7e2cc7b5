/*
 * wire-request.c's tests: requests decoded with their bounds (garbage,
 * sizes, env totals, page sizes), page tokens made and checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

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
