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

/* Options of run policies (policy.c), in the tables of the commands. */
#define OPT_P_TIMEOUT	1101
#define OPT_P_RETRIES	1102
#define OPT_P_DELAY	1103
#define OPT_P_BACKOFF	1104
#define OPT_P_MAX_DELAY	1105
#define OPT_P_RETRY_ON	1106
#define OPT_P_EXIT_ON	1107
#define OPT_P_MAX_QUEUE	1108
#define OPT_P_TEXT	1109
#define OPT_P_CODE	1110
#define OPT_P_TYPE	1111
/* The long options of a run's policies ("run submit"). */
#define POLICY_RUN_OPTIONS						\
	{ "timeout", required_argument, NULL, OPT_P_TIMEOUT },		\
	{ "retries", required_argument, NULL, OPT_P_RETRIES },		\
	{ "retry-delay", required_argument, NULL, OPT_P_DELAY },	\
	{ "backoff", required_argument, NULL, OPT_P_BACKOFF },		\
	{ "max-retry-delay", required_argument, NULL, OPT_P_MAX_DELAY },\
	{ "retry-on", required_argument, NULL, OPT_P_RETRY_ON },	\
	{ "exit-on", required_argument, NULL, OPT_P_EXIT_ON },		\
	{ "max-queue", required_argument, NULL, OPT_P_MAX_QUEUE }
/* And a definition's ("jobdef create", "jobdef update"). */
#define POLICY_JOB_OPTIONS						\
	POLICY_RUN_OPTIONS,						\
	{ "text", required_argument, NULL, OPT_P_TEXT },		\
	{ "code", required_argument, NULL, OPT_P_CODE },		\
	{ "type", required_argument, NULL, OPT_P_TYPE }
/* What those options gave; zeroed before parsing. */
struct policy {
	unsigned	 set;		/* which numbers were given */
	uint32_t	 timeout, retries, delay, max_delay, max_queue;
	double		 backoff;
	Batchd__V1__RetryRule **rules;	/* --retry-on, --exit-on in order */
	size_t		 n_rules;
	char		*text;		/* --text FILE's contents, --code */
	const char	*text_name;	/* FILE's base name */
	int		 type;		/* --type; 0: not given */
};
/* Their help, for the commands' own. */
#define POLICY_RUN_HELP \
	"  --timeout SECONDS     the bound of each attempt (the request\n" \
	"                        timeout, a global option, goes before the\n" \
	"                        command then)\n" \
	"  --retries N           attempts after the first that may follow\n" \
	"  --retry-delay SECONDS the wait before the first retry\n" \
	"  --backoff X           each later wait is X times the one before\n" \
	"                        (1 to 100; above 1 adds up to 10 % jitter)\n" \
	"  --max-retry-delay SECONDS  no wait longer than this\n" \
	"  --retry-on LIST       a rule: retry after these exit codes or\n" \
	"                        reasons (\"3,4\", \"TIMEOUT\"); repeatable\n" \
	"  --exit-on LIST        a rule: end the run after them\n" \
	"                        (the first matching rule decides)\n" \
	"  --max-queue SECONDS   cancel the run (QUEUE_TIMEOUT) if still\n" \
	"                        queued this long after submission\n"
#define POLICY_JOB_HELP \
	"  --text FILE           the job's code is FILE's contents (a TEXT\n" \
	"                        source, at most 256 KiB; \"-\": stdin),\n" \
	"                        run as FILE's name\n" \
	"  --code CODE           the job's code is CODE (run as main.py or\n" \
	"                        main.sql)\n" \
	"  --type PYTHON|SQL     the job's type (default PYTHON, SQL for\n" \
	"                        --text FILE.sql)\n" \
	POLICY_RUN_HELP

/* A growable list of string rows printed as aligned columns. */
struct table;

/* One run being waited for or followed; see follow.c. */
struct follow;

/* ctl.c */
void		 ctl_catch_signals(void);

/* cmd.c */
extern const struct cmd *cmd_top;	/* batchctl itself, set by main() */
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
int		 opt_plain(struct opts *, const struct cmd *, int, char **, int,
		     int);
int		 opt_global(int, const char *);
int		 opt_uint(const struct cmd *, const char *, const char *,
		     uint32_t *);

/* util.c */
int		 uuid_like(const char *);
char		*uuid_lower(const char *);
char		*uuid_new(void);

/* client.c */
int		 client_connect(void);
void		 client_close(void);
char		*client_subject(const char *);
int		 client_call(const char *, void *,
		     const ProtobufCMessageDescriptor *, void **);
int		 client_get(const char *, const ProtobufCMessageDescriptor *,
		     const char *, const ProtobufCMessageDescriptor *, void **);
int		 client_resolve(const char *,
		    const ProtobufCMessageDescriptor *, const char *,
		    const ProtobufCMessageDescriptor *, char **);
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

/* policy.c */
int		 policy_opt(const struct cmd *, struct policy *, int,
		     const char *);
int		 policy_any(const struct policy *);
void		 policy_job(struct policy *, JobConfig **);
void		 policy_submit(struct policy *,
		     Batchd__V1__SubmitJobRunRequest *);
void		 policy_free(struct policy *);

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

/* flow.c */
int		 flow_after(const struct cmd *,
		     Batchd__V1__SubmitJobRunRequest *, const char *);
void		 flow_free_deps(Batchd__V1__SubmitJobRunRequest *);
int		 flow_submit_batch(const struct cmd *, int, char **);
int		 flow_rerun(const struct cmd *, int, char **);

/* follow.c */
#define FOLLOW_STATUS	0x01	/* print status changes on stderr */
#define FOLLOW_SPINNER	0x02	/* a progress line on stderr (a tty) */
#define FOLLOW_STDOUT	0x04	/* print the stdout stream */
#define FOLLOW_STDERR	0x08	/* print the stderr stream */
#define FOLLOW_TO_STDOUT 0x10	/* print every stream on stdout */
#define FOLLOW_ONCE	0x20	/* print what is stored, do not wait */
/* Reads run uuid (run.get): 0, or an exit code (said). */
typedef int	(*follow_fetch_cb)(const char *, Batchd__V1__JobRunReply **);
struct follow	*follow_new(int, follow_fetch_cb);
int		 follow_subscribe(struct follow *, const char *);
int		 follow_run(struct follow *, const JobRun *, uint32_t,
		     Batchd__V1__JobRunStatus *);
void		 follow_free(struct follow *);

/* schedule.c */
int		 schedule_main(const struct cmd *, int, char **);

/* logs.c */
int		 logs_cmd(const struct cmd *, int, char **);

/* status.c */
int		 status_cmd(const struct cmd *, int, char **);

/* events.c */
int		 events_cmd(const struct cmd *, int, char **);
int		 events_history(const struct cmd *, int, char **);

#endif /* BATCHCTL_H */
