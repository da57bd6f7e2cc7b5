# batchd: plain GNU make.
#
#   make            build build/batchd, batchctl, the plugins and the console
#   make run        install what is missing, build, start nats-server (if none
#                   answers on 127.0.0.1:4222; its WebSocket listener on
#                   127.0.0.1:4223) and batchd with state in ./var
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make SANITIZE=address,undefined   a sanitized build in build/san/

CC	?= cc
PKGS	 = libevent libevent_pthreads libnats libprotobuf-c lmdb uuid inih \
	   libzstd
WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter -Werror
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(WARN)
SANITIZE ?=

ifneq ($(SANITIZE),)
B	 = build/san
CFLAGS	+= -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=$(SANITIZE)
else
B	 = build
endif

DEB_PKGS = build-essential pkg-config libevent-dev libnats-dev \
	   libprotobuf-c-dev protobuf-c-compiler protobuf-compiler liblmdb-dev \
	   uuid-dev libzstd-dev libinih-dev libjansson-dev libcurl4-openssl-dev git \
	   nats-server python3 python3-cryptography python3-zstd openssl \
	   python3-protobuf python3-pytest python3-croniter sqlite3 openmpi-bin curl lighttpd \
	   clang libclang-rt-14-dev beanstalkd slurmctld slurmd slurm-client munge \
	   chromium

DAEMON_OBJS = main log xmalloc util config model wire wire-field wire-request wire-reply \
	      wire-record store store-env store-migrate store-rec store-txn redo \
	      loop natsconf bus jetstream ha ha-js ha-snap barrier api verb \
	      metrics http console notify outbox retention plugin procstat cgroup cgroup-parent \
	      named jobconfig jobdef cluster clusterverb run queue runidx runverb recover later exec identity jobdesc logs \
	      policy queuetime wire-retry depend runbatch \
	      tz cron wire-schedule schedule schedfire scheduleverb
PROTO	 = proto/batchd/v1/batchd.proto
GEN	 = build/gen/batchd/v1/batchd.pb-c
# Sources shared by the programs (lib/): each compiled into those that need it.
LIB_OBJS = words clock xmalloc names dlplugin
OBJS	 = $(DAEMON_OBJS:%=$(B)/obj/%.o) $(LIB_OBJS:%=$(B)/obj/lib_%.o) \
	   $(B)/obj/batchd.pb-c.o
UNIT	 = $(B)/unit

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

.PHONY: all deps run run-command test unit integration clean install plugins soak man \
	console
all: $(B)/batchd $(B)/batchd-shim plugins $(B)/batchctl console

# Install the Debian packages that are missing; does nothing when all are.
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	@command -v npm >/dev/null || { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm \
	    >/dev/null; }
	@[ -d tests/s3/node_modules/s3rver ] || \
	    npm ci --prefix tests/s3 --no-audit --no-fund >/dev/null

# The web console (web/): npm packages pinned by web/package-lock.json,
# installed when missing or older than the lockfile, and bundled into
# build/console/ (served by batchd: daemon/console.c).
CONSOLE_SRCS = $(wildcard web/src/*.js) web/index.html web/console.css \
	       web/build.mjs $(PROTO)
console: build/console/console.js
build/console/console.js: $(CONSOLE_SRCS) web/node_modules/.stamp
	node web/build.mjs build/console
web/node_modules/.stamp: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

$(GEN).c $(GEN).h: $(PROTO)
	@mkdir -p build/gen
	protoc-c --c_out=build/gen -Iproto $(PROTO)

build/py/batchd/v1/batchd_pb2.py: $(PROTO)
	@mkdir -p build/py
	protoc --python_out=build/py -Iproto $(PROTO)

$(B)/obj/batchd.pb-c.o: $(GEN).c $(GEN).h
	@mkdir -p $(B)/obj
	$(CC) $(filter-out $(WARN),$(CFLAGS)) -Wall -Werror -Ibuild/gen \
	    $(PKG_CFLAGS) -c $< -o $@

$(B)/obj/%.o: daemon/%.c $(wildcard daemon/*.h lib/*.h) $(GEN).h
	@mkdir -p $(B)/obj
	$(CC) $(CFLAGS) -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

$(B)/obj/lib_%.o: lib/%.c lib/%.h daemon/plugin.h
	@mkdir -p $(B)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/batchd: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS) -lpthread

# The supervisor of one attempt: libc (and dlopen) only.
SHIM_SRCS = shim/shim.c daemon/procstat.c lib/clock.c lib/dlplugin.c \
	    lib/batchsched.c
$(B)/batchd-shim: $(SHIM_SRCS) daemon/plugin.h daemon/procstat.h lib/clock.h \
    lib/dlplugin.h lib/batchsched.h daemon/shimproto.h
	@mkdir -p $(B)
	$(CC) $(CFLAGS) -Idaemon -o $@ $(SHIM_SRCS) $(LDFLAGS) -ldl

# Plugins: one shared object each, in $(B)/plugins/ beside the binaries.
PLUGINS	 = workspace python sql local \
	   $(if $(wildcard plugins/source_git.c),git) \
	   $(if $(wildcard plugins/source_s3.c),s3) \
	   $(if $(wildcard plugins/backend_slurm.c),slurm)
PLUGIN_SRC_workspace = plugins/source_workspace.c
PLUGIN_SRC_python = plugins/runner_python.c lib/words.c
PLUGIN_SRC_sql = plugins/runner_sql.c lib/words.c
PLUGIN_SRC_local = plugins/backend_local.c plugins/local-init.c \
		   daemon/procstat.c daemon/cgroup.c lib/batchsched.c
PLUGIN_LIBS_local =
PLUGIN_SRC_git = plugins/source_git.c lib/words.c
PLUGIN_SRC_s3 = plugins/source_s3.c
PLUGIN_SRC_slurm = plugins/backend_slurm.c lib/words.c lib/clock.c
PLUGIN_LIBS_s3 = $(shell pkg-config --libs libcurl 2>/dev/null)
PLUGIN_SOS = $(PLUGINS:%=$(B)/plugins/%.so)
.SECONDEXPANSION:
$(B)/plugins/%.so: $$(PLUGIN_SRC_$$*) daemon/plugin.h lib/words.h \
    lib/clock.h daemon/procstat.h daemon/cgroup.h plugins/local.h
	@mkdir -p $(B)/plugins
	$(CC) $(CFLAGS) -fPIC -shared -Idaemon -Ilib -o $@ \
	    $(PLUGIN_SRC_$*) $(LDFLAGS) $(PLUGIN_LIBS_$*)
# The local backend's init, exec'd by it beside local.so (local-init.c):
# static, so that it starts without the dynamic loader's page faults (not
# with sanitizers, which need their shared runtime).
LOCAL_INIT_SRC = plugins/local-init.c daemon/cgroup.c lib/batchsched.c
$(B)/plugins/local-init: $(LOCAL_INIT_SRC) daemon/plugin.h daemon/cgroup.h \
    plugins/local.h
	@mkdir -p $(B)/plugins
	$(CC) $(CFLAGS) -DLOCAL_INIT_MAIN -Idaemon -Ilib -Iplugins -o $@ \
	    $(LOCAL_INIT_SRC) $(LDFLAGS) $(if $(SANITIZE),,-static)
plugins: $(PLUGIN_SOS) $(B)/plugins/local-init

# Unit tests link the daemon's objects but main.o.
UNIT_OBJS = $(filter-out $(B)/obj/main.o,$(OBJS))
$(B)/obj/unit_%.o: tests/unit/%.c $(wildcard tests/unit/*.h) daemon/batchd.h \
    daemon/cgroup.h $(GEN).h
	@mkdir -p $(B)/obj
	$(CC) $(CFLAGS) -Idaemon -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

UNIT_SRCS = $(wildcard tests/unit/*.c)
$(UNIT): $(UNIT_OBJS) $(UNIT_SRCS:tests/unit/%.c=$(B)/obj/unit_%.o)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# What tests/integration/test_cron.py asks for next fires: cron.c and tz.c.
$(B)/cronnext: tests/cron/cronnext.c $(B)/obj/cron.o $(B)/obj/tz.o \
    $(B)/obj/lib_xmalloc.o
	$(CC) $(CFLAGS) -Idaemon $(PKG_CFLAGS) -o $@ $^ $(LDFLAGS)

# make run: batchd as RUN_BATCHD says, in this directory, state in ./var.
# RUN_NATS_PORT (default: nats_url of configs/batchd.conf, 4222) and
# RUN_HTTP choose other ports; `make -s run-command` prints the command
# (tests/integration/test_readme.py starts batchd with it).
RUN_HTTP   ?= 127.0.0.1:9464
RUN_WS_PORT ?= 4223
RUN_BATCHD  = BATCHD_DATA_DIR=./var BATCHD_HTTP_LISTEN=$(RUN_HTTP) \
	      BATCHD_CONSOLE_NATS_WS=ws://127.0.0.1:$(RUN_WS_PORT) \
	      $(if $(RUN_NATS_PORT),BATCHD_NATS_URL=nats://127.0.0.1:$(RUN_NATS_PORT)) \
	      ./build/batchd $(if $(wildcard configs/batchd.conf),-c configs/batchd.conf)

run: deps $(B)/batchd $(B)/batchd-shim plugins $(B)/batchctl console
	@mkdir -p var
	@if ! bash -c 'exec 3<>/dev/tcp/127.0.0.1/$(or $(RUN_NATS_PORT),4222)' 2>/dev/null; then \
		echo "starting nats-server on 127.0.0.1:$(or $(RUN_NATS_PORT),4222), WebSocket on 127.0.0.1:$(RUN_WS_PORT) (log: var/nats-server.log)"; \
		printf 'websocket {\n  listen: "127.0.0.1:$(RUN_WS_PORT)"\n  no_tls: true\n}\n' \
		    >var/nats-server.conf; \
		nats-server -c var/nats-server.conf -a 127.0.0.1 \
		    -p $(or $(RUN_NATS_PORT),4222) >var/nats-server.log 2>&1 & \
		sleep 0.5; \
	fi
	@echo "batchd: console on http://$(RUN_HTTP)/, metrics on http://$(RUN_HTTP)/metrics, state in ./var"
	$(RUN_BATCHD)

run-command:
	@echo '$(strip $(RUN_BATCHD))'

test: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined \
	    build/san/batchd build/san/batchd-shim plugins build/san/batchctl \
	    build/san/unit build/san/cronnext console \
	    build/py/batchd/v1/batchd_pb2.py
	@tests/run-all build/san

# A long soak: 200 kill -9 trials (with 10 NATS outages) and every fuzz
# target for FUZZ_SECONDS (300) each. Not part of make test; about an hour.
soak: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined \
	    build/san/batchd build/san/batchd-shim plugins \
	    build/py/batchd/v1/batchd_pb2.py
	CRASH_TRIALS=$${CRASH_TRIALS:-200} BATCHD_BIN=$(CURDIR)/build/san/batchd \
	    BATCHD_PY_DIR=$(CURDIR)/build/py /usr/bin/python3 -m pytest -q \
	    -p no:cacheprovider tests/integration/test_crash_trials.py
	@$(MAKE) --no-print-directory fuzz

# Installation: PREFIX=/usr/local, SYSCONFDIR=/etc, DESTDIR for staging.
PREFIX	  ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR	  ?= $(PREFIX)/lib/systemd/system

install: $(B)/batchd $(B)/batchd-shim plugins $(B)/batchctl console
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d \
	    $(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(SYSCONFDIR)/batchd \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(B)/batchd $(DESTDIR)$(PREFIX)/sbin/batchd
	install -m 0755 $(B)/batchd-shim $(DESTDIR)$(PREFIX)/sbin/batchd-shim
	install -d $(DESTDIR)$(PREFIX)/lib/batchd/plugins $(DESTDIR)$(PREFIX)/include/batchd
	install -m 0755 $(PLUGIN_SOS) $(B)/plugins/local-init \
	    $(DESTDIR)$(PREFIX)/lib/batchd/plugins/
	install -m 0644 daemon/plugin.h $(DESTDIR)$(PREFIX)/include/batchd/plugin.h
	install -d $(DESTDIR)$(PREFIX)/share/batchd/console
	install -m 0644 build/console/index.html build/console/console.js \
	    build/console/console.css $(DESTDIR)$(PREFIX)/share/batchd/console/
	install -m 0755 $(B)/batchctl $(DESTDIR)$(PREFIX)/bin/batchctl
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/batchd.service.in > $(DESTDIR)$(UNITDIR)/batchd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/batchd.service
	install -m 0644 systemd/batchd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/batchd.conf
	install -m 0644 systemd/batchd.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/batchd.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/batchd/batchd.conf ] || \
	    install -m 0644 configs/batchd.conf $(DESTDIR)$(SYSCONFDIR)/batchd/batchd.conf
	install -m 0644 man/batchd.8 $(DESTDIR)$(PREFIX)/share/man/man8/batchd.8
	install -m 0644 man/batchd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/batchd.conf.5
	[ ! -f cli/batchctl.1 ] || install -m 0644 cli/batchctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/batchctl.1
	[ ! -f cli/batchctl.bash ] || install -m 0644 cli/batchctl.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/batchctl

# batchctl, the command-line client: see cli/cli.mk.
include cli/cli.mk
# libFuzzer targets (make fuzz, make fuzz-short): see tests/fuzz/fuzz.mk.
-include tests/fuzz/fuzz.mk
# Benchmarks (make bench, make bench-smoke): see bench/bench.mk.
-include bench/bench.mk

# batchd.conf(5) is made from the documented example configuration.
man: man/batchd.conf.5
man/batchd.conf.5: configs/batchd.conf man/conf2man.py
	/usr/bin/python3 man/conf2man.py configs/batchd.conf > $@

clean:
	rm -rf build
