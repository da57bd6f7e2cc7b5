/*
 * opt.c: command-line options. Every command parses its own options with
 * getopt_long(3) merged with the global ones, so that global options may
 * be given before or after the command ("batchctl run list -o json").
 * GNU getopt permutes: options may follow positional arguments; "--" ends
 * the options.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

static const struct option global_opts[] = {
	{ "server",	required_argument,	NULL,	OPT_SERVER },
	{ "creds",	required_argument,	NULL,	OPT_CREDS },
	{ "workspace",	required_argument,	NULL,	OPT_WORKSPACE },
	{ "prefix",	required_argument,	NULL,	OPT_PREFIX },
	{ "timeout",	required_argument,	NULL,	OPT_TIMEOUT },
	{ "output",	required_argument,	NULL,	'o' },
	{ "help",	no_argument,		NULL,	'h' },
};
#define NGLOBAL	(sizeof global_opts / sizeof global_opts[0])
#define NOPTS	48

/* The merged tables of the command being parsed (one at a time). */
static struct option	merged[NOPTS + NGLOBAL + 1];
static char		shorts[64];

/* Start parsing argv (argv[0] is the command's name). */
void
opt_init(struct opts *o, const struct cmd *cmd, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	size_t	n = 0, i;
	int	stop = shortopts[0] == '+';

	memset(o, 0, sizeof *o);
	o->cmd = cmd;
	o->argc = argc;
	o->argv = argv;
	o->rc = -1;
	for (i = 0; longopts != NULL && longopts[i].name != NULL &&
	    n < NOPTS; i++)
		merged[n++] = longopts[i];
	for (i = 0; i < NGLOBAL; i++)
		merged[n++] = global_opts[i];
	memset(&merged[n], 0, sizeof merged[n]);
	snprintf(shorts, sizeof shorts, "%s:ho:%s", stop ? "+" : "",
	    shortopts + stop);
	optind = 0;	/* glibc: start again from argv[1] */
	opterr = 0;
}

/*
 * The next option of the command, or -1 when there are no more, with
 * o->args set; or -1 with o->rc set when the command must return o->rc
 * (after --help or a bad option). Global options are handled here.
 */
int
opt_next(struct opts *o)
{
	int	c;

	for (;;) {
		c = getopt_long(o->argc, o->argv, shorts, merged, NULL);
		switch (c) {
		case -1:
			o->args = o->argv + optind;
			o->nargs = o->argc - optind;
			return -1;
		case 'h':
			cmd_usage(o->cmd, stdout);
			o->rc = EXIT_SUCCEEDED;
			return -1;
		case ':':
			o->rc = usage_error(o->cmd, "option '%s' needs a value",
			    o->argv[optind - 1]);
			return -1;
		case '?':
			if (optopt != 0 && optopt < 256)
				o->rc = usage_error(o->cmd, "unknown option "
				    "'-%c'", optopt);
			else
				o->rc = usage_error(o->cmd, "unknown option "
				    "'%s'", o->argv[optind - 1]);
			return -1;
		}
		switch (opt_global(c, optarg)) {
		case 0:
			continue;
		case -1:
			o->rc = EXIT_USAGE;
			return -1;
		}
		return c;
	}
}

/* Check the number of positional arguments: -1 (and o->rc) if wrong. */
int
opt_args(struct opts *o, int min, int max)
{
	if (o->nargs < min) {
		o->rc = usage_error(o->cmd, "missing argument");
		return -1;
	}
	if (max >= 0 && o->nargs > max) {
		o->rc = usage_error(o->cmd, "unexpected argument '%s'",
		    o->args[max]);
		return -1;
	}
	return 0;
}

/*
 * Parse the command line of a command that has no options of its own and
 * takes from min to max positional arguments (in o->args): -1 to go on,
 * or the exit code the command must return (after --help or a usage
 * error).
 */
int
opt_plain(struct opts *o, const struct cmd *cmd, int argc, char **argv,
    int min, int max)
{
	opt_init(o, cmd, argc, argv, "", NULL);
	while (opt_next(o) != -1)
		;
	if (o->rc == -1)
		(void)opt_args(o, min, max);
	return o->rc;
}

/* Apply a global option: 0 done, -1 bad value (said), 1 not global. */
int
opt_global(int c, const char *arg)
{
	char	*end;
	double	 d;

	switch (c) {
	case OPT_SERVER:
		ctl.server = arg;
		return 0;
	case OPT_CREDS:
		ctl.creds = arg;
		return 0;
	case OPT_WORKSPACE:
		ctl.ws = arg;
		return 0;
	case OPT_PREFIX:
		ctl.prefix = arg;
		return 0;
	case OPT_TIMEOUT:
		errno = 0;
		d = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' || !(d > 0) ||
		    d > 86400) {
			fprintf(stderr, "batchctl: --timeout: '%s' is not a "
			    "number of seconds from 0.001 to 86400\n", arg);
			return -1;
		}
		ctl.timeout_ms = (int64_t)(d * 1000);
		if (ctl.timeout_ms < 1)
			ctl.timeout_ms = 1;
		return 0;
	case 'o':
		if (strcmp(arg, "table") == 0)
			ctl.out = OUT_TABLE;
		else if (strcmp(arg, "json") == 0)
			ctl.out = OUT_JSON;
		else {
			fprintf(stderr, "batchctl: -o: '%s' is not table or "
			    "json\n", arg);
			return -1;
		}
		return 0;
	}
	return 1;
}

/* Parse a non-negative 32-bit number given to option name. */
int
opt_uint(const struct cmd *cmd, const char *name, const char *arg,
    uint32_t *out)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || *arg == '-' ||
	    v > UINT32_MAX)
		return usage_error(cmd, "%s: '%s' is not a number from 0 to "
		    "%u", name, arg, UINT32_MAX);
	*out = (uint32_t)v;
	return 0;
}
