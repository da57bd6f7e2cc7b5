/*
 * ctl.c: batchctl's global state: the global options' values and the
 * connection made from them (struct ctl; set by main() and opt.c, used by
 * client.c), and the interrupt that ends a wait.
 */
#include <signal.h>
#include <string.h>

#include "batchctl.h"

struct ctl		 ctl;
volatile sig_atomic_t	 ctl_interrupted;

/* Note an interrupt; waiting loops poll ctl_interrupted. */
static void
on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* From now on SIGINT and SIGTERM set ctl_interrupted: for waiting loops. */
void
ctl_catch_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
