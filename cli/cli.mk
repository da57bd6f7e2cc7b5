# batchctl build rules, included by the top Makefile (which defines B,
# CFLAGS, LDFLAGS, GEN, PKG_CFLAGS). Owned by the CLI.
CLI_OBJS = $(B)/obj/batchd.pb-c.o
$(B)/batchctl: $(CLI_OBJS)
	@echo "batchctl: not built yet" >&2; false
