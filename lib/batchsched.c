/*
 * batchsched.c: the scheduling policy of a process that only waits on a
 * job (the shim once the job has started): woken by its pipes and timers,
 * it should not preempt the job on the job's core but wait for the job's
 * slice to end or for the other core. SCHED_BATCH does exactly that (no
 * wakeup preemption) at the same share of CPU; the job keeps the policy it
 * was started with. Any user may choose it.
 */
#include <sched.h>
#include <string.h>

#include "batchsched.h"

/* The calling process to SCHED_BATCH; where it cannot be, as it was. */
void
batchsched_self(void)
{
	struct sched_param	sp;

	memset(&sp, 0, sizeof sp);
	(void)sched_setscheduler(0, SCHED_BATCH, &sp);
}
