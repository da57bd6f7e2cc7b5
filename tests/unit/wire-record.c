/*
 * wire-record.c's tests: a run's record round trip, and records read
 * back without the bounds of requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

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
