/*
 * echo.c: the bus ceiling. One asynchronous subscription on SUBJECT that
 * answers every request with its own payload, on a connection that sends
 * at once (SendAsap), like batchd's, and that frees what it was delivered
 * itself, like batchd. Nothing else: no decoding, no storage.
 *
 *   echo URL SUBJECT MAX_S
 *
 * Prints "ready" once subscribed, then serves until SIGTERM or SIGINT, or
 * MAX_S seconds at most.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* cnats thread: answer with the request's own payload. */
static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	const char	*reply = natsMsg_GetReply(m);

	(void)sub;
	(void)arg;
	if (reply != NULL)
		natsConnection_Publish(nc, reply, natsMsg_GetData(m),
		    natsMsg_GetDataLength(m));
	bench_msg_free(m);	/* like batchd: the ceiling is the bus's */
}

int
main(int argc, char **argv)
{
	natsConnection		*nc;
	natsSubscription	*sub = NULL;
	natsStatus		 s;
	struct timespec		 ts;
	sigset_t		 set;
	long			 max_s;

	if (argc != 4 || (max_s = atol(argv[3])) < 1 || max_s > 86400) {
		fprintf(stderr, "usage: echo URL SUBJECT MAX_S\n");
		return 64;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* cnats threads inherit it */
	nc = bench_connect(argv[1]);
	if ((s = natsConnection_Subscribe(&sub, nc, argv[2], on_msg,
	    NULL)) != NATS_OK || (s = natsConnection_Flush(nc)) != NATS_OK)
		die("subscribe %s: %s", argv[2], natsStatus_GetText(s));
	natsSubscription_SetPendingLimits(sub, -1, -1);
	printf("ready\n");
	fflush(stdout);
	ts.tv_sec = max_s;
	ts.tv_nsec = 0;
	sigtimedwait(&set, NULL, &ts);
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_Close();
	return 0;
}
