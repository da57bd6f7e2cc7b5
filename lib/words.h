/* words.h: word lists and the shell-word splitter (words.c). */
#ifndef BATCHD_WORDS_H
#define BATCHD_WORDS_H

#include <stddef.h>

int	words_add(char ***, size_t *, const char *);
int	words_split(const char *, char ***, size_t *);
int	words_split_why(const char *, char ***, size_t *, const char **);
void	words_free(char **);

#endif
