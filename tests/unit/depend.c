/*
 * depend.c's tests: conditions, what "waiting" means, and the shape of
 * depends_on and run.submit_batch as their decoders check it (fields
 * named down to the item), through records and back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/* Each condition is met by the ends it names, and by nothing else. */
void
test_depend_conditions(void)
{
	static const struct {
		enum depcond	c;
		enum rstatus	st;
		int		met;
	} t[] = {
		{ DC_SUCCEEDED, RS_SUCCEEDED, 1 }, { DC_SUCCEEDED, RS_FAILED, 0 },
		{ DC_SUCCEEDED, RS_CANCELLED, 0 }, { DC_FAILED, RS_FAILED, 1 },
		{ DC_FAILED, RS_SUCCEEDED, 0 }, { DC_FAILED, RS_CANCELLED, 0 },
		{ DC_ENDED, RS_SUCCEEDED, 1 }, { DC_ENDED, RS_FAILED, 1 },
		{ DC_ENDED, RS_CANCELLED, 1 }, { DC_ENDED, RS_PENDING, 0 },
		{ DC_ENDED, RS_RUNNING, 0 }, { DC_SUCCEEDED, RS_RUNNING, 0 },
		{ DC_NONE, RS_SUCCEEDED, 1 },	/* unspecified: AFTER_SUCCEEDED */
	};
	struct run	r;
	size_t		i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(depcond_met(t[i].c, t[i].st) == t[i].met);
	CHECK(strcmp(depcond_name(DC_NONE), "AFTER_SUCCEEDED") == 0);
	CHECK(strcmp(depcond_name(DC_ENDED), "AFTER_ENDED") == 0);
	memset(&r, 0, sizeof r);
	CHECK(!depend_waiting(&r));
	r.n_deps = 3;
	r.deps_met = 5;
	CHECK(depend_waiting(&r));
	r.deps_met = 7;
	CHECK(!depend_waiting(&r));
	r.n_deps = DEPS_MAX;		/* every bit of deps_met */
	r.deps_met = UINT64_MAX >> 1;
	CHECK(depend_waiting(&r));
	r.deps_met = UINT64_MAX;
	CHECK(!depend_waiting(&r));
}

/* Pack m and decode it as verb; the error into e. */
static int
decode(const char *verb, const ProtobufCMessage *m, struct request *r,
    struct error *e)
{
	uint8_t	*buf;
	size_t	 n;
	int	 rc;

	buf = xmalloc(protobuf_c_message_get_packed_size(m) + 1);
	n = protobuf_c_message_pack(m, buf);
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	rc = wire_request_decode(verb_find(verb), buf, n, r, e);
	free(buf);
	return rc;
}

/* depends_on and the items of a batch, refused naming their field. */
void
test_depend_decode(void)
{
	Batchd__V1__SubmitJobRunsRequest m =
	    BATCHD__V1__SUBMIT_JOB_RUNS_REQUEST__INIT;
	Batchd__V1__SubmitJobRunRequest	 items[2], *ip[2];
	Batchd__V1__Dependency		 d[DEPS_MAX + 1], *dp[DEPS_MAX + 1];
	struct request			 r;
	struct error			 e;
	size_t				 i;

	for (i = 0; i < 2; i++) {
		batchd__v1__submit_job_run_request__init(&items[i]);
		ip[i] = &items[i];
	}
	for (i = 0; i <= DEPS_MAX; i++) {
		batchd__v1__dependency__init(&d[i]);
		d[i].target_case = BATCHD__V1__DEPENDENCY__TARGET_INDEX;
		dp[i] = &d[i];
	}
	m.n_runs = 2;
	m.runs = ip;
	items[1].n_depends_on = 1;
	items[1].depends_on = dp;
	CHECK(decode("run.submit_batch", &m.base, &r, &e) == 0);
	CHECK(r.n_items == 2 && r.items[1].n_deps == 1);
	CHECK(r.items[1].deps[0].has_index && r.items[1].deps[0].cond ==
	    DC_SUCCEEDED);
	CHECK(strcmp(r.items[1].ws, r.ws) == 0);
	request_free(&r);

	d[0].condition = 4;
	CHECK(decode("run.submit_batch", &m.base, &r, &e) == -1);
	CHECK(e.code == E_INVALID &&
	    strcmp(e.field, "runs[1].depends_on[0].condition") == 0);
	request_free(&r);
	d[0].condition = BATCHD__V1__DEPENDENCY_CONDITION__AFTER_ENDED;

	d[0].target_case = BATCHD__V1__DEPENDENCY__TARGET__NOT_SET;
	CHECK(decode("run.submit_batch", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "runs[1].depends_on[0]") == 0);
	request_free(&r);
	d[0].target_case = BATCHD__V1__DEPENDENCY__TARGET_RUN_UUID;
	d[0].run_uuid = "nope";
	CHECK(decode("run.submit_batch", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "runs[1].depends_on[0].run_uuid") == 0);
	request_free(&r);

	d[0].target_case = BATCHD__V1__DEPENDENCY__TARGET_INDEX;
	items[0].n_depends_on = DEPS_MAX + 1;
	items[0].depends_on = dp;
	CHECK(decode("run.submit", &items[0].base, &r, &e) == -1);
	CHECK(strcmp(e.field, "depends_on") == 0);
	request_free(&r);

	m.n_runs = 0;
	CHECK(decode("run.submit_batch", &m.base, &r, &e) == -1);
	CHECK(strcmp(e.field, "runs") == 0);
	request_free(&r);
}

/* A run's dependencies and rerun_of go through its record unchanged. */
void
test_depend_record(void)
{
	struct run	r, c;
	struct buf	b = { 0 };
	struct error	e;

	memset(&r, 0, sizeof r);
	memset(&c, 0, sizeof c);
	snprintf(r.uuid, sizeof r.uuid, "%s",
	    "01a251cf-c642-767e-acfb-61997fe1e27d");
	r.ws = xstrdup("w");
	r.deps = xcalloc(2, sizeof *r.deps);
	r.n_deps = 2;
	snprintf(r.deps[0].uuid, sizeof r.deps[0].uuid, "%s",
	    "01a251cf-c646-7763-8b0d-825d0c07c1ab");
	r.deps[0].cond = DC_FAILED;
	snprintf(r.deps[1].uuid, sizeof r.deps[1].uuid, "%s",
	    "01a251cf-c649-77f4-9760-8013f9171aaa");
	r.deps[1].cond = DC_ENDED;
	r.deps_met = 2;
	r.ready_seq = 77;
	snprintf(r.rerun_of, sizeof r.rerun_of, "%s", r.deps[0].uuid);
	wire_encode_run_record(&b, &r);
	CHECK(wire_decode_run(b.p, b.len, &c) == 0);
	CHECK(c.n_deps == 2 && c.deps_met == 2 && c.ready_seq == 77);
	CHECK(strcmp(c.deps[1].uuid, r.deps[1].uuid) == 0 &&
	    c.deps[1].cond == DC_ENDED && !c.deps[1].has_index);
	CHECK(strcmp(c.rerun_of, r.rerun_of) == 0);
	memset(&e, 0, sizeof e);
	error_set(&e, E_INVALID, "depends_on[0].index", "x");
	error_within(&e, "runs", 999);
	CHECK(strcmp(e.field, "runs[999].depends_on[0].index") == 0);
	error_set(&e, E_INVALID, "", "x");
	error_within(&e, "runs", 3);
	CHECK(strcmp(e.field, "runs[3]") == 0);
	buf_free(&b);
	run_free(&r);
	run_free(&c);
}
