/* store.h: the op helpers of store-txn.c that the other store tests use. */
#ifndef BATCHD_UNIT_STORE_H
#define BATCHD_UNIT_STORE_H

#include <stddef.h>

void	put(const char *, size_t, int, int *, int *);
long	stored_len(const char *);
int	stored(const char *);

#endif
