/*
 * verb.c: the list of request verbs. Each verb is one entry (name, request
 * decoder, handler) defined beside its handler, as tmux's cmd_entry; a new
 * verb is its message in the proto, its decoder in wire-request.c, its
 * handler and entry, and one line here. The order is the order of the
 * metrics (metrics.c counts by index).
 */
#include <string.h>

#include "batchd.h"

static const struct verb_entry *const verbs[] = {
	&jobdef_create_entry,
	&jobdef_get_entry,
	&jobdef_list_entry,
	&jobdef_update_entry,
	&jobdef_delete_entry,
	&cluster_create_entry,
	&cluster_get_entry,
	&cluster_list_entry,
	&cluster_pause_entry,
	&cluster_resume_entry,
	&cluster_delete_entry,
	&run_submit_entry,
	&run_submit_sql_entry,
	&run_submit_batch_entry,
	&run_rerun_entry,
	&run_get_entry,
	&run_cancel_entry,
	&run_cancel_all_entry,
	&run_list_entry,
	&run_logs_entry,
	&run_events_entry,
	&schedule_create_entry,
	&schedule_get_entry,
	&schedule_list_entry,
	&schedule_update_entry,
	&schedule_delete_entry,
	&schedule_pause_entry,
	&schedule_resume_entry,
	&schedule_trigger_entry,
};
#define NVERBS	((int)(sizeof verbs / sizeof verbs[0]))
_Static_assert(NVERBS <= VERB_MAX, "more verbs than VERB_MAX");

/* The verb named "{kind}.{verb}", or NULL. */
const struct verb_entry *
verb_find(const char *name)
{
	int	i;

	for (i = 0; i < NVERBS; i++)
		if (strcmp(verbs[i]->name, name) == 0)
			return verbs[i];
	return NULL;
}

/* The i-th verb of the list, or NULL past its end. */
const struct verb_entry *
verb_at(int i)
{
	return i >= 0 && i < NVERBS ? verbs[i] : NULL;
}

/* v's place in the list, or -1 for NULL or a verb not listed. */
int
verb_index(const struct verb_entry *v)
{
	int	i;

	for (i = 0; i < NVERBS; i++)
		if (verbs[i] == v)
			return i;
	return -1;
}
