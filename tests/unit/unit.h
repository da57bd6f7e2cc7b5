/* unit.h: what a unit test file shares with unit.c's runner. */
#ifndef BATCHD_UNIT_H
#define BATCHD_UNIT_H

#include <stdio.h>

extern int	 failed;	/* set by CHECK */
extern char	 why[512];	/* what failed */
extern char	 skip_note[256];	/* set: passed by skipping, saying why */

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		snprintf(why, sizeof why, "%s:%d: %s", __FILE__,	\
		    __LINE__, #cond);					\
		failed = 1;						\
		return;							\
	}								\
} while (0)

/* unit.c */
void	write_file(const char *, const char *);

/*
 * Every test, grouped by the file that holds it (tests/unit/NAME.c tests
 * daemon/NAME.c): the one list. unit.c's runner runs them in this order;
 * a file defines each of its tests as void test_NAME(void).
 */
#define UNIT_TESTS							\
	/* util.c */							\
	T(test_uuid_order)						\
	T(test_crc32)							\
	T(test_split_words)						\
	T(test_utf8)							\
	T(test_names)							\
	T(test_mkdir_p)							\
	/* config.c */							\
	T(test_config_defaults)						\
	T(test_config_file)						\
	T(test_config_unknown_key)					\
	T(test_config_bad_value)					\
	T(test_config_env)						\
	T(test_config_missing_file)					\
	T(test_config_resolve)						\
	T(test_config_job_user)						\
	/* jobconfig.c */							\
	T(test_validate_config)						\
	/* policy.c */							\
	T(test_policy_rules)						\
	T(test_policy_backoff)						\
	T(test_policy_validate)						\
	T(test_policy_overrides)					\
	T(test_policy_record)						\
	/* bus.c */							\
	T(test_nats_msg_free)						\
	/* wire-request.c */						\
	T(test_wire_garbage)						\
	T(test_wire_bounds)						\
	T(test_wire_page_size)						\
	T(test_wire_page_token)						\
	T(test_wire_page_token_request)					\
	/* wire-reply.c */						\
	T(test_wire_logchunk_head)					\
	T(test_wire_list_fits)						\
	/* wire-record.c */						\
	T(test_wire_run_roundtrip)					\
	T(test_wire_record_unbounded)					\
	/* verb.c */							\
	T(test_verb_list)						\
	/* depend.c */							\
	T(test_depend_conditions)					\
	T(test_depend_decode)						\
	T(test_depend_record)						\
	/* store-txn.c */						\
	T(test_store_group_commit)					\
	T(test_store_lazy_rides_along)					\
	T(test_store_undo)						\
	T(test_store_undo_mixed)					\
	T(test_store_late_effects)					\
	T(test_store_late_after_writes)					\
	T(test_store_then)						\
	/* store-migrate.c */						\
	T(test_store_migrate_1)						\
	T(test_store_migrate_2)						\
	/* store-rec.c */						\
	T(test_store_ws_uid)						\
	T(test_store_config_shared)					\
	/* redo.c */							\
	T(test_store_one_owner)						\
	T(test_store_redo_replay)					\
	T(test_store_redo_torn)						\
	T(test_store_redo_sync_fails)					\
	T(test_store_redo_sync_fails_fatal)				\
	T(test_store_redo_checkpoints)					\
	/* store-env.c */						\
	T(test_store_map_grows)						\
	T(test_store_map_limit)						\
	T(test_store_checkpoint_unmaps)					\
	T(test_store_schema_mismatch)					\
	/* logs.c */							\
	T(test_logs_acked_forget)					\
	/* tz.c */							\
	T(test_tz_offsets)						\
	T(test_tz_posix_rules)						\
	T(test_tz_resolve)						\
	T(test_tz_names)						\
	/* cron.c */							\
	T(test_cron_errors)						\
	T(test_cron_next)						\
	/* cgroup.c */							\
	T(test_cgroup_names)						\
	T(test_cgroup_kill)						\
	T(test_cgroup_pids)						\
	T(test_cgroup_memory)						\
	T(test_cgroup_usage)						\
	T(test_cgroup_cpu)						\
	T(test_cgroup_parent_paths)

#define T(n)	void n(void);
UNIT_TESTS
#undef T

#endif
