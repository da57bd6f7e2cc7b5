/*
 * verbs.c: each verb the fuzz harness sends, one entry a verb: its request
 * and reply messages and whether it only reads.
 */
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "fuzz.h"

/*
 * Each verb the harness sends: its request and reply messages, and whether
 * it only reads. LLVMFuzzerInitialize() checks the daemon lists each.
 */
static const struct fverb fverbs[] = {
	{ "jobdef.create", &batchd__v1__create_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 0 },
	{ "jobdef.get", &batchd__v1__get_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 1 },
	{ "jobdef.list", &batchd__v1__list_job_definitions_request__descriptor,
	    &batchd__v1__list_job_definitions_reply__descriptor, 1 },
	{ "jobdef.update", &batchd__v1__update_job_definition_request__descriptor,
	    &batchd__v1__job_definition_reply__descriptor, 0 },
	{ "jobdef.delete", &batchd__v1__delete_job_definition_request__descriptor,
	    &batchd__v1__delete_reply__descriptor, 0 },
	{ "cluster.create", &batchd__v1__create_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.get", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 1 },
	{ "cluster.list", &batchd__v1__list_clusters_request__descriptor,
	    &batchd__v1__list_clusters_reply__descriptor, 1 },
	{ "cluster.pause", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.resume", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__cluster_reply__descriptor, 0 },
	{ "cluster.delete", &batchd__v1__get_cluster_request__descriptor,
	    &batchd__v1__delete_reply__descriptor, 0 },
	{ "run.submit", &batchd__v1__submit_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.submit_sql", &batchd__v1__submit_sql_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.submit_batch", &batchd__v1__submit_job_runs_request__descriptor,
	    &batchd__v1__submit_job_runs_reply__descriptor, 0 },
	{ "run.rerun", &batchd__v1__rerun_job_run_request__descriptor,
	    &batchd__v1__submit_job_runs_reply__descriptor, 0 },
	{ "run.get", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 1 },
	{ "run.cancel", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "run.cancel_all", &batchd__v1__cancel_job_runs_request__descriptor,
	    &batchd__v1__cancel_job_runs_reply__descriptor, 0 },
	{ "run.list", &batchd__v1__list_job_runs_request__descriptor,
	    &batchd__v1__list_job_runs_reply__descriptor, 1 },
	{ "run.logs", &batchd__v1__get_job_run_logs_request__descriptor,
	    &batchd__v1__job_run_logs_reply__descriptor, 1 },
	{ "run.events", &batchd__v1__get_job_run_request__descriptor,
	    &batchd__v1__job_run_events_reply__descriptor, 1 },
	{ "schedule.create", &batchd__v1__create_schedule_request__descriptor,
	    &batchd__v1__schedule_reply__descriptor, 0 },
	{ "schedule.get", &batchd__v1__get_schedule_request__descriptor,
	    &batchd__v1__schedule_reply__descriptor, 1 },
	{ "schedule.list", &batchd__v1__list_schedules_request__descriptor,
	    &batchd__v1__list_schedules_reply__descriptor, 1 },
	{ "schedule.update", &batchd__v1__update_schedule_request__descriptor,
	    &batchd__v1__schedule_reply__descriptor, 0 },
	{ "schedule.pause", &batchd__v1__get_schedule_request__descriptor,
	    &batchd__v1__schedule_reply__descriptor, 0 },
	{ "schedule.resume", &batchd__v1__get_schedule_request__descriptor,
	    &batchd__v1__schedule_reply__descriptor, 0 },
	{ "schedule.trigger", &batchd__v1__get_schedule_request__descriptor,
	    &batchd__v1__job_run_reply__descriptor, 0 },
	{ "schedule.delete", &batchd__v1__get_schedule_request__descriptor,
	    &batchd__v1__delete_reply__descriptor, 0 },
};

/* The harness's verb named name ("run.get"). */
const struct fverb *
fverb(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof fverbs / sizeof fverbs[0]; i++)
		if (strcmp(fverbs[i].name, name) == 0)
			return &fverbs[i];
	fatalx("the harness knows no verb %s", name);
}

/* The harness and the daemon know the same verbs: fatal if they differ. */
void
fverb_check(void)
{
	size_t	i;

	for (i = 0; i < sizeof fverbs / sizeof fverbs[0]; i++)
		if (verb_find(fverbs[i].name) == NULL)
			fatalx("batchd lists no verb %s", fverbs[i].name);
	for (i = 0; verb_at((int)i) != NULL; i++)
		(void)fverb(verb_at((int)i)->name);
}
