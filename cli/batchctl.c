/*
 * batchctl.c: main(), the global options, the command tables' dispatch and
 * usage messages.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

struct ctl		 ctl;
volatile sig_atomic_t	 ctl_interrupted;

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
	"\n"
	"Every command takes --help.\n"
	"\n"
	"Global options (also accepted after the command):\n"
	"  --server URL        NATS server (default $NATS_URL, then\n"
	"                      nats://127.0.0.1:4222)\n"
	"  --creds FILE        NATS user credentials file\n"
	"  --workspace NAME    workspace (default $BATCHD_WORKSPACE, then\n"
	"                      default)\n"
	"  --prefix P          subject prefix (default $BATCHD_SUBJECT_PREFIX,\n"
	"                      then batchd)\n"
	"  --timeout SECONDS   request timeout (default 10)\n"
	"  -o, --output table|json\n"
	"                      tables for people (default) or JSON\n"
	"\n"
	"Exit status:\n"
	"  0  success; with --wait or --follow, the run SUCCEEDED\n"
	"  1  the run FAILED\n"
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
	{ NULL, NULL, NULL, NULL }
};

/* Note an interrupt; waiting loops poll ctl_interrupted. */
static void
on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* From now on SIGINT and SIGTERM set ctl_interrupted: for waiting loops. */
void
ctl_catch_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Print how to use cmd. */
void
cmd_usage(const struct cmd *cmd, FILE *fp)
{
	fprintf(fp, "usage: batchctl %s\n\n%s\n", cmd->synopsis, cmd->help);
	if (cmd != &top_cmd)
		fprintf(fp, "\nGlobal options: --server URL, --creds FILE, "
		    "--workspace NAME, --prefix P,\n--timeout SECONDS, "
		    "-o table|json (see batchctl --help).\n");
}

/* Print why the command line is wrong, and the usage line: EXIT_USAGE. */
int
usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list	ap;
	size_t	n;

	/* The command's words: the synopsis up to its first argument. */
	n = strcspn(cmd->synopsis, "ABCDEFGHIJKLMNOPQRSTUVWXYZ[-");
	while (n > 0 && cmd->synopsis[n - 1] == ' ')
		n--;
	fprintf(stderr, "batchctl: %.*s%s", (int)n, cmd->synopsis,
	    n > 0 ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: batchctl %s\n", cmd->synopsis);
	return EXIT_USAGE;
}

/* Print the commands of a group. */
static void
group_usage(const struct cmd *group, const struct cmd *table, FILE *fp)
{
	const struct cmd	*c;

	fprintf(fp, "usage: batchctl %s\n\n%s\n\nCommands:\n",
	    group->synopsis, group->help);
	for (c = table; c->name != NULL; c++)
		fprintf(fp, "  batchctl %s\n", c->synopsis);
	fprintf(fp, "\nEvery command takes --help.\n");
}

/* Run the command of table named by argv[1]; argv[0] names the group. */
int
cmd_dispatch(const struct cmd *group, const struct cmd *table, int argc,
    char **argv)
{
	const struct cmd	*c;

	if (argc < 2) {
		group_usage(group, table, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (group == &top_cmd)
			cmd_usage(group, stdout);
		else
			group_usage(group, table, stdout);
		return EXIT_SUCCEEDED;
	}
	for (c = table; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->fn(c, argc - 1, argv + 1);
	fprintf(stderr, "batchctl: unknown command '%s%s%s'\n",
	    group == &top_cmd ? "" : group->name,
	    group == &top_cmd ? "" : " ", argv[1]);
	group_usage(group, table, stderr);
	return EXIT_USAGE;
}

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
	ctl.timeout_ms = 10000;
	ctl.out = OUT_TABLE;

	rc = top_main(&top_cmd, argc, argv);
	if (fflush(stdout) == EOF && rc == EXIT_SUCCEEDED) {
		perror("batchctl: stdout");
		rc = EXIT_USAGE;
	}
	client_close();
	return rc;
}
