/*
 * batchctl.c: main(): the global options' defaults, then the top-level
 * command and its table of commands.
 */
#include <stdio.h>
#include <stdlib.h>

#include "batchctl.h"

static int	top_main(const struct cmd *, int, char **);

static const struct cmd top_cmd = {
	"batchctl", top_main, "[global options] COMMAND ...",
	"The command-line client of batchd, the batch-job scheduler.\n"
	"\n"
	"Commands:\n"
	"  jobdef   create|get|list|update|delete      job definitions\n"
	"  cluster  create|get|list|pause|resume|delete   clusters\n"
	"  run      submit|sql|get|list|cancel|cancel-all|logs|events\n"
	"  schedule create|get|list|update|delete|pause|resume|trigger|history\n"
	"  events   print status changes as they happen\n"
	"  status   the leader and standbys of each partition (ha = on)\n"
	"\n"
	"Every command takes --help.\n"
	"\n"
	"Global options (also accepted after the command):\n"
	"  --server URL        NATS server, or several separated by commas\n"
	"                      (default $NATS_URL, then nats://127.0.0.1:4222)\n"
	"  --creds FILE        NATS user credentials file\n"
	"  --workspace NAME    workspace (default $BATCHD_WORKSPACE, then\n"
	"                      default)\n"
	"  --prefix P          subject prefix (default $BATCHD_SUBJECT_PREFIX,\n"
	"                      then batchd)\n"
	"  --timeout SECONDS   the longest wait for batchd's answer to a\n"
	"                      request, retries included (default 30): while\n"
	"                      nothing answers (a failover) it is sent again\n"
	"  -o, --output table|json\n"
	"                      tables for people (default) or JSON\n"
	"\n"
	"Exit status:\n"
	"  0  success; with --wait or --follow, the run SUCCEEDED\n"
	"  1  the run FAILED; status: batchd is not in high availability\n"
	"     mode\n"
	"  2  the run was CANCELLED\n"
	"  3  batchd refused the request (its error code is printed)\n"
	"  4  bad command line or configuration file\n"
	"  5  NATS error: cannot connect, no reply, timeout\n"
	"  130  interrupted while waiting\n"
};

static const struct cmd commands[] = {
	{ "jobdef", jobdef_main, "jobdef COMMAND ...",
	  "Manage job definitions." },
	{ "cluster", cluster_main, "cluster COMMAND ...",
	  "Manage clusters." },
	{ "run", run_main, "run COMMAND ...",
	  "Submit, inspect and cancel runs." },
	{ "schedule", schedule_main, "schedule COMMAND ...",
	  "Runs that start themselves on a cron schedule." },
	{ "events", events_cmd, "events [--cluster UUID] [--run UUID] "
	  "[--count N]",
	  "Print the status changes of runs as they happen, until\n"
	  "interrupted (or --count events were printed).\n"
	  "\n"
	  "  --cluster UUID   only the runs of this cluster\n"
	  "  --run UUID       only this run\n"
	  "  --count N        stop after N events\n"
	  "\n"
	  "With -o json, one JSON object per line (JobRunStatusEvent)." },
	{ "status", status_cmd, "status [--ha-stream NAME]",
	  "Print the leader of each partition of a batchd in high\n"
	  "availability (ha = on), each node's role, the sequence of the\n"
	  "partition's log it applied and its lag (the log's last sequence\n"
	  "minus that), read from the JetStream KV bucket the nodes keep.\n"
	  "\n"
	  "  --ha-stream NAME  batchd's ha_stream: the bucket's name\n"
	  "                    (default $BATCHD_HA_STREAM, then BATCHD_HA)\n"
	  "\n"
	  "Exit status 1 if there is no such bucket: batchd is not in high\n"
	  "availability mode." },
	{ NULL, NULL, NULL, NULL }
};

/* The top level: global options, then a command. */
static int
top_main(const struct cmd *self, int argc, char **argv)
{
	struct opts	o;

	opt_init(&o, self, argc, argv, "+", NULL);
	while (opt_next(&o) != -1)
		;
	if (o.rc != -1)
		return o.rc;
	if (o.nargs == 0) {
		cmd_usage(self, stderr);
		return EXIT_USAGE;
	}
	/* cmd_dispatch() reads the command from argv[1]. */
	return cmd_dispatch(self, commands, o.nargs + 1, o.args - 1);
}

/* Defaults from the environment, then the command line; exit with its code. */
int
main(int argc, char **argv)
{
	const char	*v;
	int		 rc;

	ctl.server = (v = getenv("NATS_URL")) != NULL && *v != '\0' ? v :
	    "nats://127.0.0.1:4222";
	ctl.ws = (v = getenv("BATCHD_WORKSPACE")) != NULL && *v != '\0' ? v :
	    "default";
	ctl.prefix = (v = getenv("BATCHD_SUBJECT_PREFIX")) != NULL &&
	    *v != '\0' ? v : "batchd";
	ctl.timeout_ms = 30000;
	ctl.out = OUT_TABLE;

	cmd_top = &top_cmd;
	rc = top_main(&top_cmd, argc, argv);
	if (fflush(stdout) == EOF && rc == EXIT_SUCCEEDED) {
		perror("batchctl: stdout");
		rc = EXIT_USAGE;
	}
	client_close();
	return rc;
}
