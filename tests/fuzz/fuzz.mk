# libFuzzer targets, included by the top Makefile (which defines WARN, GEN,
# PKG_CFLAGS, PKG_LIBS, DAEMON_OBJS). See tests/fuzz/README.md.
#
#   make fuzz-build         every target into build/fuzz/
#   make fuzz               each target FUZZ_SECONDS (300) on its corpus;
#                           new inputs go to build/fuzz/corpus-<target>
#   make fuzz-short         each target FUZZ_SHORT_SECONDS (1, about 2 s of
#                           wall time): one line per target, non-zero exit
#                           on a failure (make test)
#   make fuzz FUZZ_TARGETS="run_submit run_list" FUZZ_SECONDS=60

FUZZ_CC		?= clang
FB		 = build/fuzz
FUZZ_TARGETS	?= jobdef_create jobdef_get jobdef_list jobdef_update \
		   jobdef_delete cluster_create cluster_get cluster_list \
		   run_submit run_submit_sql run_submit_batch run_rerun \
		   run_get run_cancel_all run_list \
		   run_logs schedule_create schedule_get schedule_list \
		   schedule_update
FUZZ_SECONDS	?= 300
FUZZ_SHORT_SECONDS ?= 1
FUZZ_MAX_LEN	?= 8192
# Seconds one input may take before it counts as a hang.
FUZZ_TIMEOUT	?= 10
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) $(FUZZ_SAN)
# A clang-only warning the daemon trips (gcc, which builds it, has none):
# vlog() in log.c has no format attribute. Off for the daemon's objects, on
# for the harness.
FUZZ_DAEMON_CFLAGS = $(FUZZ_CFLAGS) -Wno-format-nonliteral
FUZZ_FLAGS	 = -max_len=$(FUZZ_MAX_LEN) -timeout=$(FUZZ_TIMEOUT) \
		   -dict=tests/fuzz/batchd.dict -print_final_stats=1

FUZZ_OBJS	 = $(filter-out $(FB)/obj/main.o,$(DAEMON_OBJS:%=$(FB)/obj/%.o)) \
		   $(LIB_OBJS:%=$(FB)/obj/lib_%.o) $(FB)/obj/lib_pbfield.o \
		   $(FB)/obj/batchd.pb-c.o
FUZZ_BINS	 = $(FUZZ_TARGETS:%=$(FB)/%)

.PHONY: fuzz-build fuzz fuzz-short $(FUZZ_TARGETS:%=fuzz-short-%) \
	$(FUZZ_TARGETS:%=fuzz-run-%)

$(FB)/obj/batchd.pb-c.o: $(GEN).c $(GEN).h
	@mkdir -p $(FB)/obj
	$(FUZZ_CC) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wall -Werror \
	    -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

$(FB)/obj/lib_%.o: lib/%.c lib/%.h
	@mkdir -p $(FB)/obj
	$(FUZZ_CC) $(FUZZ_DAEMON_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FB)/obj/%.o: daemon/%.c $(wildcard daemon/*.h lib/*.h) $(GEN).h
	@mkdir -p $(FB)/obj
	$(FUZZ_CC) $(FUZZ_DAEMON_CFLAGS) -fsanitize=fuzzer-no-link -Ibuild/gen \
	    $(PKG_CFLAGS) -c $< -o $@

# fuzz.c is compiled once per target (FUZZ_TARGET names it); the rest of
# the harness (verbs.c, check.c, snapshot.c, seed.c) once for all.
FUZZ_HARNESS	 = $(patsubst tests/fuzz/%.c,$(FB)/obj/harness_%.o, \
		   $(filter-out tests/fuzz/fuzz.c,$(wildcard tests/fuzz/*.c)))

$(FB)/obj/fuzz_%.o: tests/fuzz/fuzz.c tests/fuzz/fuzz.h daemon/batchd.h $(GEN).h
	@mkdir -p $(FB)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_TARGET='"$*"' \
	    -Idaemon -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

$(FB)/obj/harness_%.o: tests/fuzz/%.c tests/fuzz/fuzz.h daemon/batchd.h \
    $(GEN).h
	@mkdir -p $(FB)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Idaemon \
	    -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_BINS): $(FB)/%: $(FUZZ_OBJS) $(FUZZ_HARNESS) $(FB)/obj/fuzz_%.o
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread

fuzz-build: $(FUZZ_BINS)

# Long runs: the committed seeds are read, what is new is kept out of tree.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(MAKE) --no-print-directory fuzz-run-$$t; done

$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: $(FB)/%
	@mkdir -p $(FB)/corpus-$* $(FB)/artifacts $(FB)/tmp
	@echo "fuzz $*: $(FUZZ_SECONDS) s, new inputs in $(FB)/corpus-$*"
	TMPDIR=$(CURDIR)/$(FB)/tmp $(FB)/$* $(FUZZ_FLAGS) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FB)/artifacts/$*- \
	    $(FB)/corpus-$* tests/fuzz/corpus/$*

# Short runs for make test: quiet unless something fails. Without clang
# they are skipped, saying so.
ifeq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
fuzz-short:
	@echo "fuzz: skipped: $(FUZZ_CC) not found (clang, libclang-rt-dev)"
else
fuzz-short: $(FUZZ_TARGETS:%=fuzz-short-%)
endif

$(FUZZ_TARGETS:%=fuzz-short-%): fuzz-short-%: $(FB)/%
	@rm -rf $(FB)/short/$*
	@mkdir -p $(FB)/short/$*/new $(FB)/artifacts $(FB)/tmp
	@if TMPDIR=$(CURDIR)/$(FB)/tmp $(FB)/$* $(FUZZ_FLAGS) \
	    -max_total_time=$(FUZZ_SHORT_SECONDS) \
	    -artifact_prefix=$(FB)/artifacts/$*- \
	    $(FB)/short/$*/new tests/fuzz/corpus/$* \
	    >$(FB)/short/$*/log 2>&1; then \
		echo "fuzz $*: ok, $$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' \
		    $(FB)/short/$*/log) execs"; \
	else \
		echo "fuzz $*: FAILED (log: $(FB)/short/$*/log)"; \
		tail -n 40 $(FB)/short/$*/log; \
		exit 1; \
	fi
