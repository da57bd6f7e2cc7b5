/*
 * logs.c's tests: confirmed log offsets, kept and forgotten.
 */
#include <stdio.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/*
 * Confirmed log offsets (logs.c): kept per (run, attempt, stream) under
 * "logack/{run}" + attempt (4 bytes, big-endian) + stream; a purge's
 * logs_forget() removes every one of its run and no other's, and
 * logs_recover() (after a restart) drops the ones of runs gone.
 */
#define ACK_A	"0190f0a0-0000-7000-8000-00000000000a"
#define ACK_B	"0190f0a0-0000-7000-8000-00000000000b"

struct ack_op {
	struct op	 op;
	int		 step;		/* 0 store, 1 forget A, 2 read,
					 * 3 recover */
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
		if (a->step == 3)
			return logs_recover(t);
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

void
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
	/* B's run is not stored (purged): its offset owes nothing. */
	ack_test_step(&a, 3);
	ack_test_step(&a, 2);
	CHECK(a.got[2] == 0);
	store_close();
}
