/* clock.h: the monotonic clock (clock.c). */
#ifndef BATCHD_CLOCK_H
#define BATCHD_CLOCK_H

#include <stdint.h>

int64_t	 mono_ms(void);
int64_t	 mono_us(void);

#endif
