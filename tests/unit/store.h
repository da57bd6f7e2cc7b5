/* store.h: helpers of one store test file that the others use. */
#ifndef BATCHD_UNIT_STORE_H
#define BATCHD_UNIT_STORE_H

#include <stddef.h>

struct jobconfig;
struct txn;

/* store-txn.c */
void	put(const char *, size_t, int, int *, int *);
long	stored_len(const char *);
int	stored(const char *);

/* store-rec.c */
int	in_turn(int (*)(struct txn *, void *), void *);
size_t	entries(struct txn *, int);
void	big_config(struct jobconfig *, size_t, const char *);

#endif
