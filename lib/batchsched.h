/* batchsched.h: SCHED_BATCH for a process that only waits (batchsched.c). */
#ifndef BATCHD_BATCHSCHED_H
#define BATCHD_BATCHSCHED_H

void	 batchsched_self(void);

#endif
