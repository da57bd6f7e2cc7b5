/*
 * bench.h: what the benchmark tools share (common.c): clocks, statistics,
 * a cnats connection with SendAsap, protobuf requests to batchd, and the
 * collector of status events and log chunks.
 *
 * Every tool prints exactly one JSON object on stdout (its result) and its
 * complaints on stderr; a non-zero exit means the part did not run.
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>

#define BUUID_LEN	36

/* Clocks: CLOCK_MONOTONIC, shared with the Python driver. */
int64_t	 mono_ns(void);
void	 sleep_ms(int64_t);

void	 die(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	*emalloc(size_t);
void	*erealloc(void *, size_t);

/* Percentile p (0..100) of v[0..n), sorted in place; 0 if n == 0. */
double	 pctl(double *, size_t, double);

/* A connection that sends at once and never reconnects. */
natsConnection *bench_connect(const char *);

/*
 * Free a message cnats delivered on this thread, not on cnats's collector
 * thread (which natsMsg_Destroy() wakes), as batchd does (bus.c msg_free).
 */
void	 bench_msg_free(natsMsg *);

/*
 * Send req on subject and wait up to timeout_ms; the reply (owned by the
 * caller) or NULL with *st set.
 */
natsMsg	*bench_request(natsConnection *, const char *,
	    const ProtobufCMessage *, int64_t, natsStatus *);

/* Objects in batchd; each dies on any error. uuid: BUUID_LEN + 1 bytes. */
void	 bench_jobdef(natsConnection *, const char *ws, const char *name,
	    const char *file, const char *args, int retries, int delay_s,
	    char *uuid);
void	 bench_cluster(natsConnection *, const char *ws, const char *name,
	    char *uuid);
/* Submit; returns the reply's status (JobRunStatus), run uuid in run. */
int	 bench_submit(natsConnection *, const char *ws, const char *def,
	    const char *cluster, char *run);
/* run.get: status and reason of a run. */
void	 bench_run_get(natsConnection *, const char *ws, const char *run,
	    int *status, int *reason);
/* The packed SubmitJobRunRequest for (def, cluster), malloc'd. */
uint8_t	*bench_submit_payload(const char *, const char *, size_t *);

/*
 * The collector: subscribes to a workspace's status events and log chunks
 * and keeps, per run, when each thing was first seen (mono_ns).
 */
struct seen {
	char		 run[BUUID_LEN + 1];
	int64_t		 t_running;	/* RUNNING event */
	int64_t		 t_terminal;	/* SUCCEEDED/FAILED/CANCELLED event */
	int		 status;	/* terminal status */
	int64_t		 wall_ms;	/* usage.wall_ms of the attempt */
	int64_t		 cpu_us;	/* its user + system CPU time */
	int64_t		 t_first;	/* first stdout chunk with data */
	int64_t		 t_eof;		/* stdout eof chunk */
	uint64_t	 bytes;		/* stdout bytes received */
	uint64_t	 wire;		/* their LogChunks' data, as sent */
	uint64_t	 next_off;	/* expected offset of the next chunk */
	uint64_t	 gaps;		/* chunks not at next_off */
};
struct collector;
struct collector *collector_start(natsConnection *, const char *ws);
/* Wait until pred(seen) holds for run or timeout_ms passes; 0 or -1. */
int	 collector_wait(struct collector *, const char *run,
	    int (*)(const struct seen *), int64_t, struct seen *);
uint64_t collector_dropped(struct collector *);
void	 collector_stop(struct collector *);

/* Start path argv with stdout to fd (or a pipe read into *rfd if fd < 0). */
pid_t	 spawn_direct(char *const [], int, int *);
/* python3 as the shim finds it on batchd's job PATH. */
const char *python_path(void);

#endif /* BENCH_H */
