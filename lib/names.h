/* names.h: the shapes of the names batchd takes (names.c). */
#ifndef BATCHD_NAMES_H
#define BATCHD_NAMES_H

#define UUID_LEN	36
#define WS_MAX		64

int	 uuid_valid(const char *);
int	 ws_valid(const char *);

#endif
