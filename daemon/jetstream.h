/*
 * jetstream.h: see jetstream.c. Included only by the files that speak
 * cnats (bus.c, jetstream.c, natsconf.c, ha-js.c, ha-snap.c): its types
 * stay out of batchd.h.
 */
#ifndef BATCHD_JETSTREAM_H
#define BATCHD_JETSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

/*
 * natsMsg_Destroy() does not free a message cnats made (one it delivered,
 * or one of ours to JetStream): it hands it to the library's
 * garbage-collector thread and wakes that thread, about once per two
 * commands under load, and the memory is freed on a thread that never
 * allocates. natsMsg_free() is what that thread calls with it
 * (exported by libnats, not declared in nats.h; its signature unchanged
 * since cnats 1.0);
 * for a message not set up for the collector, natsMsg_Destroy() calls it
 * itself. Freeing on the thread done with the message: durable run.submit
 * at K=32 +10 %. The reference is weak: a libnats without it gets
 * natsMsg_Destroy().
 */
extern void	natsMsg_free(void *) __attribute__((weak));

/* Free m on the thread done with it (see above). */
static inline void
msg_free(natsMsg *m)
{
	if (natsMsg_free != NULL)
		natsMsg_free(m);
	else
		natsMsg_Destroy(m);
}

/* natsconf.c */
void	 nats_options(natsOptions *);

/* jetstream.c */
void	 jetstream_init(void (*)(void), void (*)(uint64_t, int));
void	 jetstream_attach(natsConnection *);
void	 jetstream_detach(void);
void	 jetstream_connected(void);
int	 jetstream_ready(void);
int	 jetstream_publish(const char *, const char *, uint64_t, const void *,
	    size_t);
void	 jetstream_free(void);

#endif /* BATCHD_JETSTREAM_H */
