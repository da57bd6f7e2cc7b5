/*
 * probe.c: when does batchd answer? Connects to NATS first, prints "ready",
 * then asks cluster.get (by NAME) every millisecond or so until a reply
 * comes (any reply: NOT_FOUND is an answer too) and prints the CLOCK_MONOTONIC
 * time of that reply. The driver starts batchd after "ready", so the
 * difference is restart-to-first-answer.
 *
 *   probe URL WS NAME TIMEOUT_S
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

int
main(int argc, char **argv)
{
	Batchd__V1__GetClusterRequest	 req =
	    BATCHD__V1__GET_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterReply	*r;
	natsConnection			*nc;
	natsMsg				*m;
	natsStatus			 s;
	char				 subject[256];
	int64_t				 deadline, t;
	long				 tries = 0, timeout_s;
	int				 found;

	if (argc != 5 || (timeout_s = atol(argv[4])) < 1 ||
	    timeout_s > 3600) {
		fprintf(stderr, "usage: probe URL WS NAME TIMEOUT_S\n");
		return 64;
	}
	nc = bench_connect(argv[1]);
	snprintf(subject, sizeof subject, "batchd.v1.%s.cluster.get", argv[2]);
	req.name = argv[3];
	printf("ready\n");
	fflush(stdout);
	deadline = mono_ns() + (int64_t)timeout_s * 1000000000;
	for (;;) {
		tries++;
		m = bench_request(nc, subject, &req.base, 50, &s);
		t = mono_ns();
		if (m != NULL)
			break;
		if (t > deadline)
			die("no answer on %s in %ld s (last: %s)", subject,
			    timeout_s, natsStatus_GetText(s));
		if (s == NATS_NO_RESPONDERS)
			sleep_ms(1);
	}
	r = batchd__v1__cluster_reply__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	if (r == NULL)
		die("cluster.get: reply does not decode");
	found = r->error == NULL;
	printf("{\"t_answer_ns\": %lld, \"tries\": %ld, \"found\": %s}\n",
	    (long long)t, tries, found ? "true" : "false");
	batchd__v1__cluster_reply__free_unpacked(r, NULL);
	natsMsg_Destroy(m);
	natsConnection_Destroy(nc);
	nats_Close();
	return 0;
}
