/*
 * words.c: helpers compiled into the plugins that need them (each plugin
 * is a shared object of its own, without batchd's xmalloc).
 */
#include <stdlib.h>
#include <string.h>

#include "words.h"

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
 * expansions (quotes honoured), to *v. 0, or -1 on unbalanced quotes or
 * no memory.
 */
int
words_split(const char *s, char ***v, size_t *n)
{
	char	*w;
	size_t	 len = 0;
	int	 inword = 0;
	char	 q = 0;

	if ((w = malloc(strlen(s) + 1)) == NULL)
		return -1;
	for (;; s++) {
		if (q != 0) {
			if (*s == '\0')
				goto fail;
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
				goto fail;
			w[len++] = *++s;
		} else
			w[len++] = *s;
	}
	free(w);
	return 0;
fail:
	free(w);
	return -1;
}

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
