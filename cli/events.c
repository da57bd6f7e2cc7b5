/*
 * events.c: status changes: "batchctl events" prints them live from the
 * bus, "batchctl run events" prints a run's stored history (run.events).
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

enum { O_CLUSTER = 256, O_RUN, O_COUNT };

/* "events [--cluster UUID] [--run UUID] [--count N]": until interrupted. */
int
events_cmd(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "run", required_argument, NULL, O_RUN },
		{ "count", required_argument, NULL, O_COUNT },
		{ NULL, 0, NULL, 0 }
	};
	natsSubscription		*sub = NULL;
	natsMsg				*msg;
	RunEvent			*e;
	struct opts			 o;
	const char			*cluster = NULL, *run = NULL;
	char				*cl = NULL, *r = NULL, *subject = NULL;
	uint32_t			 count = 0, seen = 0;
	int				 c, rc = 0;

	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 && rc == 0) {
		switch (c) {
		case O_CLUSTER:
			cluster = optarg;
			break;
		case O_RUN:
			run = optarg;
			break;
		case O_COUNT:
			rc = opt_uint(self, "--count", optarg, &count);
			break;
		}
	}
	if (rc != 0 || o.rc != -1 || opt_args(&o, 0, 0) == -1)
		return rc != 0 ? rc : o.rc;
	if (run != NULL && !uuid_like(run))
		return usage_error(self, "--run: '%s' is not a UUID", run);
	if (cluster != NULL && (rc = cluster_resolve(cluster, &cl)) != 0)
		return rc;
	if (run != NULL)
		r = uuid_lower(run);
	xasprintf(&subject, "status.%s.%s", cl != NULL ? cl : "*",
	    r != NULL ? r : "*");
	if ((rc = client_subscribe(subject, &sub)) != 0)
		goto out;
	ctl_catch_signals();
	show_event_line(NULL, 1);
	while (!ctl_interrupted && (count == 0 || seen < count)) {
		if ((rc = client_next(sub, 200, &msg)) == 1) {
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		e = batchd__v1__job_run_status_event__unpack(NULL,
		    (size_t)natsMsg_GetDataLength(msg),
		    (const uint8_t *)natsMsg_GetData(msg));
		natsMsg_Destroy(msg);
		if (e == NULL)
			continue;
		show_event_line(e, 0);
		seen++;
		protobuf_c_message_free_unpacked(&e->base, NULL);
	}
out:
	if (sub != NULL)
		natsSubscription_Destroy(sub);
	free(subject);
	free(cl);
	free(r);
	return rc;
}

/* "run events RUN": the stored history, in seq order. */
int
events_history(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__GetJobRunRequest	 req =
	    BATCHD__V1__GET_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunEventsReply	*rep;
	struct opts			 o;
	int				 rc;

	if (opt_plain(&o, self, argc, argv, 1, 1) != -1)
		return o.rc;
	req.uuid = uuid_lower(o.args[0]);
	if ((rc = client_call("run.events", &req,
	    &batchd__v1__job_run_events_reply__descriptor,
	    (void **)&rep)) == 0) {
		show_events(rep->events, rep->n_events);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	free(req.uuid);
	return rc;
}
