/*
 * words.c: word lists, and the one shell-word splitter, compiled into each
 * program that needs it (batchd checks a job's args with it; the plugins,
 * shared objects of their own without batchd's xmalloc, split commands with
 * it). libc only: it returns -1 rather than dying when memory runs out.
 */
#include <stdlib.h>
#include <string.h>

#include "words.h"

/* Append w[0..len) (copied) to the NULL-terminated *v of *n words. */
static int
add(char ***v, size_t *n, const char *w, size_t len)
{
	char	**nv;

	if ((nv = realloc(*v, (*n + 2) * sizeof *nv)) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strndup(w, len)) == NULL)
		return -1;
	nv[++*n] = NULL;
	return 0;
}

/* Append one word (copied) to the NULL-terminated *v of *n words. */
int
words_add(char ***v, size_t *n, const char *w)
{
	return add(v, n, w, strlen(w));
}

/*
 * Append the words of s, split as a POSIX shell splits words without
 * expansions, to *v: blanks separate words, single quotes keep everything,
 * double quotes keep all but \" \\ \$ \`, a backslash outside quotes
 * escapes the next character. 0, or -1 on unbalanced quotes or no memory,
 * with *cause (if cause is not NULL) a static text saying which; the words
 * appended before the failure stay in *v for words_free().
 */
int
words_split_why(const char *s, char ***v, size_t *n, const char **cause)
{
	char	*w;
	size_t	 len = 0;
	int	 inword = 0;
	char	 q = 0;

	if (cause != NULL)
		*cause = "out of memory";
	if ((w = malloc(strlen(s) + 1)) == NULL)
		return -1;
	for (;; s++) {
		if (q != 0) {
			if (*s == '\0')
				goto unbalanced;
			if (*s == q)
				q = 0;
			else if (q == '"' && *s == '\\' && s[1] != '\0' &&
			    strchr("\"\\$`", s[1]) != NULL)
				w[len++] = *++s;
			else
				w[len++] = *s;
			continue;
		}
		if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n') {
			if (inword && add(v, n, w, len) == -1)
				goto fail;
			inword = 0;
			len = 0;
			if (*s == '\0')
				break;
			continue;
		}
		inword = 1;
		if (*s == '\'' || *s == '"')
			q = *s;
		else if (*s == '\\') {
			if (s[1] == '\0')
				goto unbalanced;
			w[len++] = *++s;
		} else
			w[len++] = *s;
	}
	free(w);
	return 0;
unbalanced:
	if (cause != NULL)
		*cause = q == 0 ? "unbalanced backslash" : q == '\'' ?
		    "unbalanced single quote" : "unbalanced double quote";
fail:
	free(w);
	return -1;
}

/* words_split_why() for callers that need no cause. */
int
words_split(const char *s, char ***v, size_t *n)
{
	return words_split_why(s, v, n, NULL);
}

/* Free a NULL-terminated word list (NULL is empty). */
void
words_free(char **v)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
