/*
 * ha-int.h: what HA's files on JetStream (ha-js.c, ha-snap.c) share, and
 * no other file includes.
 */
#ifndef BATCHD_HA_INT_H
#define BATCHD_HA_INT_H

#include <sys/random.h>

#include "jetstream.h"

#define WRONG_LAST_SEQ	10071	/* JSStreamWrongLastSequenceErr */

/* ha-snap.c */
int	 ha_snap_write(jsCtx *, const char *, const char *, const char *,
	    size_t, int (*)(void));
uint64_t ha_snap_load(jsCtx *, const char *, const char *, uint64_t,
	    uint8_t **, size_t *);

#endif /* BATCHD_HA_INT_H */
