/* procstat.h: see procstat.c. */
#ifndef BATCHD_PROCSTAT_H
#define BATCHD_PROCSTAT_H

#include <sys/types.h>

unsigned long long	proc_start_time(pid_t);
int			pidfile_write(const char *, pid_t);

#endif
