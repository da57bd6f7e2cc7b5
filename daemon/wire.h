/*
 * wire.h: what the wire*.c files share, and the only header that includes
 * the generated batchd.pb-c.h; the rest of the daemon knows batchd.h only.
 *
 *   wire-field.c    the fields all messages share: strings, UUIDs, enums,
 *                   env maps in; packing and strings out
 *   wire.c          the converters between messages and the daemon's
 *                   structs, each one way for requests and records alike
 *   wire-request.c  each verb's request decoder, page tokens
 *   wire-reply.c    replies, and their size against max_payload
 *   wire-record.c   LMDB records (the same messages the API returns)
 *   wire-retry.c    RetryStrategy <-> struct retry (for wire.c and
 *                   run.submit's override)
 *   wire-schedule.c Schedule <-> struct schedule, ScheduleFireEvent
 */
#ifndef WIRE_H
#define WIRE_H

#include "batchd/v1/batchd.pb-c.h"

/* Unpacks requests so that wire_str_in() can tell a string cut by a NUL. */
extern ProtobufCAllocator wire_allocator;

/*
 * Into structs. With e set (a request), each string, map and enum is
 * checked against its bound and the first that fails sets e naming its
 * field and returns -1; with e NULL (a record batchd wrote) nothing is
 * checked and nothing fails. Either way empty strings become NULL.
 */
int	 wire_str_in(char **, const char *, size_t, const char *,
	    struct error *);
int	 wire_uuid_in(char **, const char *, const char *, struct error *);
int	 wire_env_in(struct kvlist *, void **, size_t, const char *,
	    struct error *);
int	 wire_enum_in(int *, int, int, const char *, struct error *);
int	 wire_jobconfig_in(struct jobconfig *, const Batchd__V1__JobConfig *,
	    const char *, struct error *);
int	 wire_clusterconfig_in(struct clusterconfig *,
	    const Batchd__V1__ClusterConfig *, const char *, struct error *);
int	 wire_retry_in(struct retry *, const Batchd__V1__RetryStrategy *,
	    const char *, struct error *);
int	 wire_deps_in(struct dep **, size_t *, Batchd__V1__Dependency *const *,
	    size_t, const char *, struct error *);

/*
 * Out of structs: the pb structs borrow the structs' strings, so nothing
 * made here outlives them. With redact (replies) secrets are masked.
 */
struct pb_rules;		/* wire-retry.c */
struct pb_retry {
	Batchd__V1__RetryStrategy	 r;
	struct pb_rules			*rules;	/* NULL: no rules */
};
struct pb_jobconfig {
	Batchd__V1__JobConfig		 c;
	Batchd__V1__JobSource		 s;
	Batchd__V1__WorkspaceSource	 ws;
	Batchd__V1__GitSource		 git;
	Batchd__V1__S3Source		 s3;
	Batchd__V1__TextSource		 text;
	struct pb_retry			 r;
	void				**env;
	size_t				 n_env;
};
struct pb_jobdef {
	Batchd__V1__JobDefinition	 d;
	struct pb_jobconfig		 c;
	Batchd__V1__ClusterConfig	 cc;
};
struct pb_run {
	Batchd__V1__JobRun		  r;
	Batchd__V1__ResourceUsage	  u;
	struct pb_jobconfig		  c;
	Batchd__V1__JobRunAttempt	 *a;
	Batchd__V1__JobRunAttempt	**ap;
	Batchd__V1__ResourceUsage	 *au;
	void				**env;
	size_t				  n_env;
	Batchd__V1__Dependency		 *d;
	Batchd__V1__Dependency		**dp;
};
void	 wire_pack(struct buf *, const ProtobufCMessage *);
void	 wire_retry_out(struct pb_retry *, const struct retry *);
void	 wire_retry_out_free(struct pb_retry *);
size_t	 wire_item_size(const ProtobufCMessage *);
char	*wire_str_out(const char *);
void	 wire_env_out_free(void **, size_t);
void	 wire_jobconfig_out(struct pb_jobconfig *, const struct jobconfig *,
	    int);
void	 wire_jobconfig_out_free(struct pb_jobconfig *);
void	 wire_jobdef_out(struct pb_jobdef *, const struct jobdef *, int);
void	 wire_jobdef_out_free(struct pb_jobdef *);
void	 wire_cluster_out(Batchd__V1__Cluster *, Batchd__V1__ClusterConfig *,
	    const struct cluster *);
void	 wire_run_out(struct pb_run *, const struct run *, int);
void	 wire_run_out_free(struct pb_run *);
void	 wire_event_out(Batchd__V1__JobRunStatusEvent *,
	    Batchd__V1__ResourceUsage *, const struct runevent *);

#endif /* WIRE_H */
