/* words.h: word lists for the plugins (words.c). */
#ifndef BATCHD_WORDS_H
#define BATCHD_WORDS_H

#include <stddef.h>

int	words_add(char ***, size_t *, const char *);
int	words_split(const char *, char ***, size_t *);
void	words_free(char **);

#endif
