/*
 * log.c: batchd's own log, one line per event on stderr.
 *
 * Lines carry a syslog priority prefix ("<3>") that journald turns into the
 * entry's priority when stderr is the journal, and a level word for people.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchd.h"

static int	log_lvl = LOG_LVL_INFO;

static const struct {
	const char	*name;
	int		 prio;	/* syslog priority for journald */
} levels[] = {
	[LOG_LVL_ERROR] = { "error", 3 },
	[LOG_LVL_WARN]  = { "warn", 4 },
	[LOG_LVL_INFO]  = { "info", 6 },
	[LOG_LVL_DEBUG] = { "debug", 7 },
};

/* Set the most verbose level that is printed. */
void
log_init(int level)
{
	log_lvl = level;
}

/* Level number of a name, or -1. */
int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (strcasecmp(s, levels[i].name) == 0)
			return (int)i;
	return -1;
}

static void vlog(int, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int level, const char *err, const char *fmt, va_list ap)
{
	char	line[2048];
	int	n;

	if (level > log_lvl)
		return;
	n = vsnprintf(line, sizeof line, fmt, ap);
	if (n < 0)
		return;
	if (err != NULL)
		fprintf(stderr, "<%d>batchd %s: %s: %s\n", levels[level].prio,
		    levels[level].name, line, err);
	else
		fprintf(stderr, "<%d>batchd %s: %s\n", levels[level].prio,
		    levels[level].name, line);
}

#define LOGFN(fn, lvl, witherr)						\
void									\
fn(const char *fmt, ...)						\
{									\
	va_list	ap;							\
	int	saved = errno;						\
									\
	va_start(ap, fmt);						\
	vlog(lvl, witherr ? strerror(saved) : NULL, fmt, ap);		\
	va_end(ap);							\
	errno = saved;							\
}
LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_debug, LOG_LVL_DEBUG, 0)

/* Log with strerror(errno) and exit EXIT_SOFTWARE. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(EXIT_SOFTWARE);
}

/* Log and exit EXIT_SOFTWARE. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_SOFTWARE);
}

/* Log and exit with a documented start-up failure code. */
void
fatal_code(int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(code);
}
