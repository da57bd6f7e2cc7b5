/*
 * verb.c's tests: the table of verbs.
 */
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/* Every verb listed is found by its name and has a decoder and handler. */
void
test_verb_list(void)
{
	const struct verb_entry	*v;
	int			 i;

	for (i = 0; (v = verb_at(i)) != NULL; i++) {
		CHECK(verb_find(v->name) == v && verb_index(v) == i);
		CHECK(v->decode != NULL && v->exec != NULL &&
		    v->object != NULL);
		CHECK(strchr(v->name, '.') != NULL);
	}
	CHECK(i == 29 && i <= VERB_MAX);
	CHECK(verb_find("run.frobnicate") == NULL && verb_find("run") == NULL);
	CHECK(verb_index(NULL) == -1 && verb_at(-1) == NULL);
}
