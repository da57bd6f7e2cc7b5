# Benchmarks, included by the top Makefile (which defines B, CC, CFLAGS,
# LDFLAGS, GEN, OBJS, PKG_CFLAGS, PKG_LIBS and the deps target).
# See bench/README.md.
#
#   make bench         everything, full size (about 10 minutes): a table on
#                      stdout and bench/results/latest.{md,csv,json,png}
#   make bench-smoke   every part on a tiny size (under a minute), results in
#                      bench/results/smoke.*; fails only if a part fails to
#                      run, never on a timing
#   make bench-build   the tools only, into $(B)/bench/
#
# Sizes: make bench BENCH_K="1 8 32 128" BENCH_REPS=3 BENCH_SECS=3
#   BENCH_SCALE_RUNS=1000000 ... (every BENCH_* of bench/run.py --help).

BB		 = $(B)/bench
BENCH_PY	 = /usr/bin/python3
BENCH_TOOLS	 = loadgen echo latency logstream probe
BENCH_BINS	 = $(BENCH_TOOLS:%=$(BB)/%) $(BB)/seed
BENCH_VARS	 = BENCH_K BENCH_REPS BENCH_SECS BENCH_WARM BENCH_CLUSTERS \
		   BENCH_LAT_N BENCH_LAT_REPS BENCH_LOG_MIB BENCH_LOG_REPS \
		   BENCH_LOG_ZSTD \
		   BENCH_SCALE_CLUSTERS BENCH_SCALE_QUEUED BENCH_SCALE_RUNS \
		   BENCH_SCALE_K BENCH_SCALE_REPS BENCH_COLD BENCH_KEEP \
		   BENCH_QUIET_S BENCH_SCHED_N BENCH_SCHED_REPS \
		   BENCH_SCHED_LEAD_S \
		   BENCH_FLOW_N BENCH_FLOW_BATCH BENCH_FLOW_REPS \
		   BENCH_HA_REPS BENCH_HA_FAILOVERS
BENCH_ARGS	 = --bin $(B) $(foreach v,$(BENCH_VARS),$(if $($(v)),--set \
		   '$(v)=$($(v))'))

.PHONY: bench bench-smoke bench-build bench-deps

$(BB)/obj/%.o: bench/%.c bench/bench.h daemon/batchd.h $(GEN).h
	@mkdir -p $(BB)/obj
	$(CC) $(CFLAGS) -Ibench -Idaemon -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

$(BENCH_TOOLS:%=$(BB)/%): $(BB)/%: $(BB)/obj/%.o $(BB)/obj/common.o \
    $(B)/obj/batchd.pb-c.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# The seeder runs batchd's own code with exec.o and identity.o replaced
# (bench/seed.c).
SEED_OBJS = $(filter-out $(B)/obj/main.o $(B)/obj/exec.o $(B)/obj/identity.o,$(OBJS))
$(BB)/seed: $(SEED_OBJS) $(BB)/obj/seed.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# What a backend's start() costs alone (bench/startcost.c; not a part of
# run.py): $(BB)/startcost build/plugins/local.so DIR N [UID].
$(BB)/startcost: bench/startcost.c daemon/plugin.h daemon/cgroup.c \
    daemon/cgroup-parent.c daemon/cgroup-int.h \
    daemon/cgroup.h
	@mkdir -p $(BB)
	$(CC) $(CFLAGS) -Idaemon -o $@ bench/startcost.c daemon/cgroup.c \
	    daemon/cgroup-parent.c \
	    $(LDFLAGS) -ldl

bench-build: $(B)/batchd $(B)/batchd-shim $(PLUGIN_SOS) \
    $(B)/plugins/local-init $(BENCH_BINS) \
    $(BB)/startcost build/py/batchd/v1/batchd_pb2.py

# beanstalkd from Debian, only when dpkg says it is not installed; gnuplot
# (the chart) is welcome but optional.
bench-deps:
	@dpkg -s beanstalkd >/dev/null 2>&1 || { \
		echo "installing: beanstalkd"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq beanstalkd >/dev/null; }

bench: deps bench-deps
	@command -v gnuplot >/dev/null 2>&1 || \
	    dpkg -s gnuplot-nox >/dev/null 2>&1 || { \
		echo "installing: gnuplot-nox (optional)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		gnuplot-nox >/dev/null 2>&1 || echo "no gnuplot: no chart"; }
	@$(MAKE) --no-print-directory bench-build
	$(BENCH_PY) bench/run.py --mode full $(BENCH_ARGS)

bench-smoke: bench-deps
	@$(MAKE) --no-print-directory bench-build
	$(BENCH_PY) bench/run.py --mode smoke $(BENCH_ARGS)
