/*
 * batchctl.h: the table of contents of batchctl, the command-line client
 * of batchd.
 *
 * batchctl has no event loop: every command is a few synchronous cnats
 * requests ({prefix}.v1.{ws}.{kind}.{verb}), and waiting for a run reads
 * synchronous subscriptions with a short timeout so that an interrupt is
 * noticed. Every function that can fail returns an exit code (EXIT_*) and
 * has already said why on stderr; main() frees the connection and exits
 * with it.
 *
 * Only the generated protobuf-c types are used for data: requests are
 * built from them, replies are printed from them (show.c), and JSON output
 * is derived from their descriptors (pbjson.c).
 */
#ifndef BATCHCTL_H
#define BATCHCTL_H

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <nats/nats.h>

#include "batchd/v1/batchd.pb-c.h"
#include "../lib/names.h"
#include "../lib/xmalloc.h"

/* Exit codes; documented in batchctl.1 and batchctl --help. */
#define EXIT_SUCCEEDED	0	/* success; a waited-for run SUCCEEDED */
#define EXIT_FAILED	1	/* the waited-for run FAILED */
#define EXIT_CANCELLED	2	/* the waited-for run was CANCELLED */
#define EXIT_SERVER	3	/* batchd answered with an error */
#define EXIT_USAGE	4	/* bad command line or configuration file */
#define EXIT_BUS	5	/* NATS: cannot connect, no reply, timeout */
#define EXIT_INTR	130	/* interrupted (SIGINT/SIGTERM) while waiting */

#define PAGE_MAX	1000		/* largest page batchd serves */
#define LOGS_MAX	(1024 * 1024)	/* largest run.logs read */

/* Shorter names for the generated types used everywhere. */
typedef Batchd__V1__JobDefinition	JobDef;
typedef Batchd__V1__JobConfig		JobConfig;
typedef Batchd__V1__ClusterConfig	ClusterConfig;
typedef Batchd__V1__Cluster		Cluster;
typedef Batchd__V1__JobRun		JobRun;
typedef Batchd__V1__JobRunStatusEvent	RunEvent;
typedef Batchd__V1__LogChunk		LogChunk;
typedef Batchd__V1__Schedule		Schedule;
typedef Batchd__V1__CreateScheduleRequest ScheduleConf;

enum outfmt { OUT_TABLE, OUT_JSON };

/* The global options, and the connection made from them on first use. */
struct ctl {
	const char	*server;
	const char	*creds;
	const char	*ws;
	const char	*prefix;
	int64_t		 timeout_ms;	/* of each request */
	enum outfmt	 out;
	natsOptions	*opts;
	natsConnection	*nc;		/* NULL until client_connect() */
};
extern struct ctl	 ctl;
extern volatile sig_atomic_t ctl_interrupted;	/* set by SIGINT/SIGTERM */

/* A command: name, handler (argv[0] is the name), synopsis and help. */
struct cmd {
	const char	*name;
	int		(*fn)(const struct cmd *, int, char **);
	const char	*synopsis;	/* after "batchctl " */
	const char	*help;		/* description and options */
};

/* Option parsing state of one command; see opt.c. */
struct opts {
	const struct cmd	*cmd;
	int			 argc;
	char			**argv;
	const char		*shortopts;
	const struct option	*longopts;
	int			 rc;	/* -1, or the exit code to return */
	char			**args;	/* positional arguments, after parsing */
	int			 nargs;
};

/* Values of the global options in getopt tables; commands use others. */
#define OPT_SERVER	1001
#define OPT_CREDS	1002
#define OPT_WORKSPACE	1003
#define OPT_PREFIX	1004
#define OPT_TIMEOUT	1005

/* A growable list of string rows printed as aligned columns. */
struct table;

/* One run being waited for or followed; see follow.c. */
struct follow;

/* batchctl.c */
void		 ctl_catch_signals(void);
int		 cmd_dispatch(const struct cmd *, const struct cmd *, int,
		     char **);
void		 cmd_usage(const struct cmd *, FILE *);
int		 usage_error(const struct cmd *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* opt.c */
void		 opt_init(struct opts *, const struct cmd *, int, char **,
		     const char *, const struct option *);
int		 opt_next(struct opts *);
int		 opt_args(struct opts *, int, int);
int		 opt_global(int, const char *);
int		 opt_uint(const struct cmd *, const char *, const char *,
		     uint32_t *);

/* util.c */
int		 uuid_like(const char *);
char		*uuid_lower(const char *);

/* client.c */
int		 client_connect(void);
void		 client_close(void);
char		*client_subject(const char *);
int		 client_call(const char *, const void *,
		     const ProtobufCMessageDescriptor *, void **);
/* Every page of a list verb (client_list()). */
struct pages {
	ProtobufCMessage	**reps;
	size_t			  nreps;
	void			**items;
	size_t			  n;
};
int		 client_list(const char *, ProtobufCMessage *,
		     const ProtobufCMessageDescriptor *, const char *, size_t,
		     struct pages *);
void		 pages_free(struct pages *);
int		 client_subscribe(const char *, natsSubscription **);
int		 client_next(natsSubscription *, int64_t, natsMsg **);
void		 client_error(const Batchd__V1__Error *);

/* conf.c */
JobConfig	*conf_job(const char *, char **);
ClusterConfig	*conf_cluster(const char *, char **);
ScheduleConf	*conf_schedule(const char *, char **);

/* pbjson.c */
json_t		*pbjson_message(const ProtobufCMessage *);
void		 pbjson_print(const void *);
void		 pbjson_print_list(void **, size_t);
void		 pbjson_print_line(const void *);

/* table.c */
struct table	*table_new(const char *, ...);
void		 table_add(struct table *, ...);
void		 table_print(struct table *, FILE *);
void		 table_free(struct table *);

/* fmt.c */
const char	*fmt_enum(const ProtobufCEnumDescriptor *, int);
const char	*fmt_status(Batchd__V1__JobRunStatus);
const char	*fmt_ago(int64_t, char *, size_t);
const char	*fmt_time(int64_t, char *, size_t);
const char	*fmt_clock(int64_t, char *, size_t);
const char	*fmt_local(int64_t, const char *, char *, size_t);
const char	*fmt_duration(int64_t, char *, size_t);
void		 fmt_kv(const char *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int64_t		 fmt_now_ms(void);
int		 fmt_parse_status(const char *, Batchd__V1__JobRunStatus *);

/* show.c */
void		 show_jobdef(const JobDef *);
void		 show_jobdefs(JobDef **, size_t);
void		 show_cluster(const Cluster *);
void		 show_clusters(Cluster **, size_t);
void		 show_run(const JobRun *);
void		 show_runs(JobRun **, size_t);
void		 show_events(RunEvent **, size_t);
void		 show_event_line(const RunEvent *, int);
void		 show_deleted(const char *, const char *);
void		 show_schedule(const Schedule *);
void		 show_schedules(Schedule **, size_t);

/* jobdef.c */
int		 jobdef_main(const struct cmd *, int, char **);
int		 jobdef_resolve(const char *, char **);

/* cluster.c */
int		 cluster_main(const struct cmd *, int, char **);
int		 cluster_resolve(const char *, char **);

/* run.c */
int		 run_main(const struct cmd *, int, char **);
int		 run_fetch(const char *, Batchd__V1__JobRunReply **);
int		 run_outcome(Batchd__V1__JobRunStatus);

/* follow.c */
#define FOLLOW_STATUS	0x01	/* print status changes on stderr */
#define FOLLOW_SPINNER	0x02	/* a progress line on stderr (a tty) */
#define FOLLOW_STDOUT	0x04	/* print the stdout stream */
#define FOLLOW_STDERR	0x08	/* print the stderr stream */
#define FOLLOW_TO_STDOUT 0x10	/* print every stream on stdout */
#define FOLLOW_ONCE	0x20	/* print what is stored, do not wait */
struct follow	*follow_new(int);
int		 follow_subscribe(struct follow *, const char *);
int		 follow_run(struct follow *, const JobRun *, uint32_t,
		     Batchd__V1__JobRunStatus *);
void		 follow_free(struct follow *);

/* schedule.c */
int		 schedule_main(const struct cmd *, int, char **);

/* logs.c */
int		 logs_cmd(const struct cmd *, int, char **);

/* events.c */
int		 events_cmd(const struct cmd *, int, char **);
int		 events_history(const struct cmd *, int, char **);

#endif /* BATCHCTL_H */
