/*
 * logs.c: "batchctl run logs": the output of an attempt, from run.logs,
 * and with -f as it comes (follow.c).
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

enum { O_ATTEMPT = 256, O_STDERR };

/* "run logs RUN [--attempt N] [--stderr] [-f]". */
int
logs_cmd(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "attempt", required_argument, NULL, O_ATTEMPT },
		{ "stderr", no_argument, NULL, O_STDERR },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__JobRunReply		*rep = NULL;
	Batchd__V1__JobRunStatus	 st;
	struct follow			*f = NULL;
	struct opts			 o;
	uint32_t			 attempt = 0;
	int				 c, rc = 0, follow = 0, err = 0;
	int				 flags;

	opt_init(&o, self, argc, argv, "f", longopts);
	while ((c = opt_next(&o)) != -1 && rc == 0) {
		switch (c) {
		case O_ATTEMPT:
			rc = opt_uint(self, "--attempt", optarg, &attempt);
			if (rc == 0 && attempt == 0)
				rc = usage_error(self, "--attempt: attempts "
				    "count from 1");
			break;
		case O_STDERR:
			err = 1;
			break;
		case 'f':
			follow = 1;
			break;
		}
	}
	if (rc != 0 || o.rc != -1 || opt_args(&o, 1, 1) == -1)
		return rc != 0 ? rc : o.rc;
	flags = FOLLOW_TO_STDOUT | (err ? FOLLOW_STDERR : FOLLOW_STDOUT) |
	    (follow ? 0 : FOLLOW_ONCE);
	f = follow_new(flags, run_fetch);
	/* Subscribe first: nothing written after run.get is missed. */
	if (follow && (rc = follow_subscribe(f, o.args[0])) != 0)
		goto out;
	if ((rc = run_fetch(o.args[0], &rep)) != 0)
		goto out;
	if (attempt > rep->job_run->attempt && !follow) {
		fprintf(stderr, "batchctl: run %s has %u attempt%s\n",
		    rep->job_run->uuid, rep->job_run->attempt,
		    rep->job_run->attempt == 1 ? "" : "s");
		rc = EXIT_USAGE;
		goto out;
	}
	rc = follow_run(f, rep->job_run, attempt, &st);
	if (rc <= EXIT_CANCELLED)
		rc = 0;
out:
	if (rep != NULL)
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	follow_free(f);
	return rc;
}
