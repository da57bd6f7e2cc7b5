/*
 * cmd.c: commands (struct cmd): a group's table dispatched by the
 * command's name, and the usage messages.
 */
#include <stdio.h>
#include <string.h>

#include "batchctl.h"

/* batchctl itself: its help lists the global options and its commands. */
const struct cmd	*cmd_top;

/* Print how to use cmd. */
void
cmd_usage(const struct cmd *cmd, FILE *fp)
{
	fprintf(fp, "usage: batchctl %s\n\n%s\n", cmd->synopsis, cmd->help);
	if (cmd != cmd_top)
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
		if (group == cmd_top)
			cmd_usage(group, stdout);
		else
			group_usage(group, table, stdout);
		return EXIT_SUCCEEDED;
	}
	for (c = table; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->fn(c, argc - 1, argv + 1);
	fprintf(stderr, "batchctl: unknown command '%s%s%s'\n",
	    group == cmd_top ? "" : group->name,
	    group == cmd_top ? "" : " ", argv[1]);
	group_usage(group, table, stderr);
	return EXIT_USAGE;
}
