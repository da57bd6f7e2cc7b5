# batchctl build rules, included by the top Makefile (which defines B,
# CFLAGS, LDFLAGS, GEN). Objects are $(B)/obj/ctl_*.o so that they cannot
# clash with the daemon's; batchctl links none of the daemon's objects, only
# the shared sources of lib/ it needs.
CLI_SRCS    = batchctl ctl cmd opt util client conf pbjson table fmt show \
	      jobdef cluster run follow logs events policy schedule flow \
	      status
CLI_LIB     = xmalloc names pbfield clock
CLI_OBJS    = $(CLI_SRCS:%=$(B)/obj/ctl_%.o) $(CLI_LIB:%=$(B)/obj/lib_%.o) \
	      $(B)/obj/batchd.pb-c.o
CLI_PKGS    = libnats libprotobuf-c jansson libzstd
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
CLI_LIBS   := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)

$(B)/obj/ctl_%.o: cli/%.c cli/batchctl.h $(wildcard lib/*.h) $(GEN).h
	@mkdir -p $(B)/obj
	$(CC) $(CFLAGS) -Ibuild/gen $(CLI_CFLAGS) -c $< -o $@

$(B)/batchctl: $(CLI_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(CLI_LIBS)
