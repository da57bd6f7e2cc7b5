/* procstat.h: see procstat.c. */
#ifndef BATCHD_PROCSTAT_H
#define BATCHD_PROCSTAT_H

#include <sys/types.h>

unsigned long long	proc_start_time(pid_t);

#endif
