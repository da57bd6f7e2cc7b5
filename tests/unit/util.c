/*
 * util.c's tests: words, UTF-8, names, CRC-32, identifiers,
 * mkdir_p().
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "../../lib/words.h"
#include "unit.h"

/* mkdir_p() makes missing parents, accepts what exists, refuses a file. */
void
test_mkdir_p(void)
{
	struct stat	st;

	CHECK(mkdir_p("a/b/c/d", 0700) == 0);
	CHECK(stat("a/b/c/d", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK((st.st_mode & 0777) == 0700);
	CHECK(mkdir_p("a/b/c/d", 0700) == 0);		/* exists */
	CHECK(mkdir_p("a/b/e/", 0700) == 0);		/* trailing slash */
	CHECK(stat("a/b/e", &st) == 0 && S_ISDIR(st.st_mode));
	write_file("a/f", "");
	errno = 0;
	CHECK(mkdir_p("a/f/g/h", 0700) == -1 && errno == ENOTDIR);
	CHECK(stat("a/f/g", &st) == -1);
}

void
test_split_words(void)
{
	char		**w = NULL;
	const char	 *cause = NULL;
	size_t		  n = 0;

	CHECK(words_split_why("  --a 1 'b c' \"d \\\"e\\\"\" f\\ g ''", &w, &n,
	    &cause) == 0);
	CHECK(n == 6);
	CHECK(strcmp(w[0], "--a") == 0);
	CHECK(strcmp(w[1], "1") == 0);
	CHECK(strcmp(w[2], "b c") == 0);
	CHECK(strcmp(w[3], "d \"e\"") == 0);
	CHECK(strcmp(w[4], "f g") == 0);
	CHECK(strcmp(w[5], "") == 0);
	CHECK(w[6] == NULL);
	/* appends to what is there */
	CHECK(words_split("x 'y z'", &w, &n) == 0 && n == 8);
	CHECK(strcmp(w[6], "x") == 0 && strcmp(w[7], "y z") == 0);
	CHECK(words_add(&w, &n, "last") == 0 && n == 9 && w[9] == NULL);
	words_free(w);
	w = NULL;
	n = 0;
	CHECK(words_split_why("", &w, &n, &cause) == 0 && n == 0);
	CHECK(words_split_why("a 'b", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced single quote") == 0);
	CHECK(words_split_why("a \"b", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced double quote") == 0);
	CHECK(words_split_why("a \\", &w, &n, &cause) == -1);
	CHECK(strcmp(cause, "unbalanced backslash") == 0);
	CHECK(words_split("a \"b\\\"c\"", &w, &n) == 0);
	words_free(w);
}

void
test_utf8(void)
{
	CHECK(utf8_valid("abc", 3));
	CHECK(utf8_valid("\xc3\xa9", 2));
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(!utf8_valid("\xc3", 1));
	CHECK(!utf8_valid("\xc0\xaf", 2));		/* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	CHECK(!utf8_valid("\xff", 1));
	CHECK(!utf8_valid("a\0b", 3));
}

void
test_names(void)
{
	char	u[UUID_LEN + 1];

	uuid_new(u);
	CHECK(uuid_valid(u));
	CHECK(u[14] == '7');				/* version 7 */
	CHECK(strchr("89ab", u[19]) != NULL);		/* RFC variant */
	CHECK(!uuid_valid("F256C794-4C2D-49A3-BA7A-7CF1BFA6628C"));
	CHECK(!uuid_valid("f256c794"));
	CHECK(ws_valid("team_A-1"));
	CHECK(!ws_valid(""));
	CHECK(!ws_valid("a.b"));
	CHECK(!ws_valid("a*"));
	CHECK(!ws_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* Identifiers given in order sort in order, 5000 in a millisecond too
 * (past the 12-bit counter: the next millisecond is borrowed). */
/* The CRC-32 check value, and the same in pieces of every alignment. */
void
test_crc32(void)
{
	const char	*s = "123456789";
	uint8_t		 big[1000];
	uint32_t	 whole, parts;
	size_t		 i, cut;

	CHECK(crc32_ieee(0, s, 9) == 0xcbf43926u);
	CHECK(crc32_ieee(0, "", 0) == 0);
	for (i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	whole = crc32_ieee(0, big, sizeof big);
	for (cut = 0; cut < 17; cut++) {
		parts = crc32_ieee(0, big, cut);
		parts = crc32_ieee(parts, big + cut, sizeof big - cut);
		CHECK(parts == whole);
	}
}

void
test_uuid_order(void)
{
	char	prev[UUID_LEN + 1], u[UUID_LEN + 1];
	int	i, ordered = 1;

	uuid_new(prev);
	for (i = 0; i < 20000; i++) {
		uuid_new(u);
		if (!uuid_valid(u) || strcmp(prev, u) >= 0)
			ordered = 0;
		memcpy(prev, u, sizeof u);
	}
	CHECK(ordered);
}
