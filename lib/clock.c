/*
 * clock.c: the monotonic clock, compiled into batchd, batchd-shim,
 * batchctl and the Slurm backend (durations and deadlines; wall-clock time
 * is batchd's now_ms()).
 */
#include <time.h>

#include "clock.h"

/* Monotonic milliseconds (durations). */
int64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic microseconds (latencies). */
int64_t
mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
