/*
 * fuzz.h: what the fuzz harness's files share. fuzz.c (compiled once per
 * target, with FUZZ_TARGET) feeds inputs and holds the seams; verbs.c lists
 * the verbs; check.c says what the daemon must refuse and what a reply may
 * hold; snapshot.c keeps and restores the seeded database; seed.c makes it.
 */
#ifndef BATCHD_FUZZ_H
#define BATCHD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>
#include <protobuf-c/protobuf-c.h>

#define REPLY		"_INBOX.fuzz"
#define MAX_MESSAGE	4096		/* BATCHD_MAX_MESSAGE_BYTES */
#define QUEUE_CAP	2		/* BATCHD_QUEUE_CAP: "busy" is full */
#define MAP_SIZE	(8u << 20)
#define DRAIN_MAX	1000

/* A verb the harness sends (verbs.c). */
struct fverb {
	const char				*name;
	const ProtobufCMessageDescriptor	*request;
	const ProtobufCMessageDescriptor	*reply;
	int					 read_only;
};

/* What was published during one request. */
struct pub {
	uint8_t	*p;
	size_t	 len, cap;
	int	 replies;	/* on REPLY */
	int	 others;	/* anything else (none expected: no NATS) */
};

/* fuzz.c */
extern struct pub	 pub;
extern const char	*cur_subject;	/* the request being sent */
extern size_t		 cur_len;
void	fail(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	send_request(const char *, const void *, size_t);

/* verbs.c */
const struct fverb	*fverb(const char *);
void			 fverb_check(void);

/* check.c */
const char	*must_refuse(const struct fverb *, const uint8_t *, size_t,
		    const char **);
void		 check_reply(const struct fverb *, const char *);

/* snapshot.c */
extern char	 diff_at[160];	/* the first record that differed */
int		 db_walk(int);
void		 restore(void);

/* seed.c */
const char	*seed_uuid(int);
void		 seed(void);

#endif
