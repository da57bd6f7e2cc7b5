/*
 * main.c: batchd's command line, start-up order and exit.
 *
 * Start-up: configuration, storage open and recovered (runs the last life
 * left running are ended, queues re-dispatched), then the bus. Nothing is
 * subscribed before storage is consistent.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batchd.h"
#include "cgroup.h"

struct config	*cfg;
static int	  serving;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: batchd [-c FILE] [--check-config] [--favordynmods] [--version]\n"
"              [--help]\n"
"\n"
"  -c, --config FILE   read FILE (INI \"key = value\"); default: none,\n"
"                      built-in defaults plus BATCHD_<KEY> variables\n"
"  --check-config      print the effective configuration and exit\n"
"  --favordynmods      as root, turn on the cgroup option favordynmods\n"
"                      (job_cgroup_favordynmods) and exit: for a service\n"
"                      whose batchd may not (ExecStartPre=+)\n"
"  --version           print the version and exit\n"
"  --help              this text\n"
"\n"
"exit codes: 0 clean shutdown, %d usage, %d configuration, %d storage,\n"
"            %d NATS client set-up, %d internal error\n",
	    EXIT_USAGE, EXIT_CONFIG, EXIT_STORAGE, EXIT_BUS, EXIT_SOFTWARE);
}

/*
 * The data directory holds logs and secrets: 0700, whoever made it; 0711
 * when jobs run as other users (they pass through it and runs/ to their
 * own DIR/work, exec.c; they list and read nothing else).
 */
static void
private_dir(const char *dir, mode_t mode)
{
	struct stat	st;

	if (stat(dir, &st) == -1)
		fatal_code(EXIT_STORAGE, "%s: %s", dir, strerror(errno));
	if ((st.st_mode & 0777) != mode) {
		if ((st.st_mode & 077 & ~mode) != 0)
			log_warnx("%s was mode %03o; now %03o", dir,
			    st.st_mode & 0777, mode);
		if (chmod(dir, mode) == -1)
			fatal_code(EXIT_STORAGE, "chmod %s: %s", dir,
			    strerror(errno));
	}
}

/* --favordynmods: what exec_init() does at start, alone; the exit code. */
static int
favordynmods(void)
{
	char	err[512];

	if (!cfg->job_cgroup_favordynmods || strcmp(cfg->job_cgroup != NULL ?
	    cfg->job_cgroup : "", "off") == 0)
		return 0;
	if (cg_favor_dynmods(err, sizeof err) == -1) {
		fprintf(stderr, "batchd: favordynmods: %s\n", err);
		return EXIT_CONFIG;
	}
	return 0;
}

/*
 * Read the command line into *path and *check (1: --check-config, 2:
 * --favordynmods): -1 to go on, else the exit code (--version, --help, a
 * usage error).
 */
static int
parse_args(int argc, char **argv, const char **path, int *check)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "favordynmods", no_argument, NULL, 'F' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'C':
			*check = 1;
			break;
		case 'F':
			*check = 2;
			break;
		case 'V':
			printf("batchd %s\n", BATCHD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* --check-config: print the effective configuration; the exit code. */
static int
check_config(void)
{
	char	*cause = NULL;

	if (config_resolve(cfg, &cause) == -1) {
		fprintf(stderr, "batchd: %s\n", cause);
		free(cause);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	config_print(cfg);
	config_free(cfg);
	return 0;
}

/*
 * The data directory and the workspace root made, every configured path
 * made absolute, and the data directory (with runs/ when jobs run as other
 * users) given its mode.
 */
static void
data_dirs(void)
{
	char	*cause = NULL;

	if (mkdir_p(cfg->data_dir, 0700) == -1 ||
	    mkdir_p(cfg->workspace_root, 0755) == -1)
		fatal_code(EXIT_STORAGE, "creating %s or %s failed",
		    cfg->data_dir, cfg->workspace_root);
	/* From here on every configured path is absolute. */
	if (config_resolve(cfg, &cause) == -1)
		fatal_code(EXIT_CONFIG, "%s", cause);
	log_info("batchd %s starting data_dir=%s nats=%s prefix=%s",
	    BATCHD_VERSION, cfg->data_dir, cfg->nats_url, cfg->subject_prefix);
	if (cfg->job_mode == JU_SELF)
		private_dir(cfg->data_dir, 0700);
	else {
		if (mkdir_p(cfg->runs_dir, 0700) == -1)
			fatal_code(EXIT_STORAGE, "%s: %s", cfg->runs_dir,
			    strerror(errno));
		private_dir(cfg->data_dir, 0711);
		private_dir(cfg->runs_dir, 0711);
	}
}

/*
 * Serve: what the storage says is recovered (runs the last life left
 * running are ended, queues re-dispatched) before anything is subscribed,
 * then the bus. At start, or when this node comes to lead (ha.c).
 */
static void
serve(void)
{
	serving = 1;
	outbox_init();
	logs_init();
	run_recover();
	retention_init();
	schedfire_init();
	bus_start(api_message);
	notify_send("STATUS=serving");
}

/*
 * Storage opened, then the HTTP listener, then serving, or with ha = on
 * following the leader as a standby until this node leads; systemd is
 * told when batchd is up.
 */
static void
start(void)
{
	char	*cause = NULL;

	if (store_open(cfg->data_dir, cfg->lmdb_map_size, &cause) == -1)
		fatal_code(EXIT_STORAGE, "%s", cause);
	if (plugin_init(&cause) == -1)
		fatal_code(EXIT_CONFIG, "%s", cause);
	exec_init();
	barrier_init();
	if (cfg->http_listen != NULL && http_start(cfg->http_listen,
	    &cause) == -1)
		fatal_code(EXIT_CONFIG, "%s", cause);
	notify_init();
	notify_send("READY=1");
	if (cfg->ha)
		ha_start(serve);
	else
		serve();
}

/* Everything start() set up, stopped and freed; the store flushed first. */
static void
stop(void)
{
	log_info("shutting down");
	notify_send("STOPPING=1");
	http_stop();
	notify_free();
	store_flush_now();
	ha_stop();
	exec_free();
	run_free_timers();
	bus_free();
	if (serving) {
		logs_free_all();
		outbox_free();
	}
	barrier_free();
	if (serving) {
		retention_free();
		schedfire_free();
	}
	plugin_free();
	store_close();
	loop_free();
	config_free(cfg);
	log_info("stopped");
}

int
main(int argc, char **argv)
{
	const char	*path = NULL;
	char		*cause = NULL;
	int		 rc, check = 0;

	batchd_argv = argv;
	if ((rc = parse_args(argc, argv, &path, &check)) != -1)
		return rc;
	if ((cfg = config_load(path, &cause)) == NULL) {
		fprintf(stderr, "batchd: %s\n", cause);
		free(cause);
		return EXIT_CONFIG;
	}
	if (check == 1)
		return check_config();
	if (check == 2)
		return favordynmods();
	log_init(cfg->log_level);
	umask(077);

	loop_init();
	data_dirs();
	start();
	loop_run();
	stop();
	return 0;
}
