/*
 * names.c: the shapes of the names batchd takes (run and definition
 * UUIDs, workspace names), compiled into batchd, which refuses others, and
 * batchctl, which checks before it sends anything.
 */
#include <ctype.h>
#include <string.h>

#include "names.h"

/* Is s a lower-case canonical UUID? */
int
uuid_valid(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isdigit((unsigned char)s[i]) &&
		    (s[i] < 'a' || s[i] > 'f'))
			return 0;
	}
	return 1;
}

/* Is s a workspace name: [A-Za-z0-9_-]{1,64}? */
int
ws_valid(const char *s)
{
	size_t	n = 0;

	for (; s[n] != '\0'; n++) {
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return 0;
		if (n >= WS_MAX)
			return 0;
	}
	return n > 0;
}
