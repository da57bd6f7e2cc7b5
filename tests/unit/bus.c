/*
 * bus.c's tests: what it needs of libnats.
 */
#include <nats/nats.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/*
 * bus.c frees the messages cnats delivers with libnats's natsMsg_free(),
 * referenced weakly (it is not in nats.h). Without it batchd still works,
 * through natsMsg_Destroy() and cnats's collector thread, ~10 % slower at
 * K=32: this says so if the libnats we build against stops exporting it.
 */
extern void	natsMsg_free(void *) __attribute__((weak));

void
test_nats_msg_free(void)
{
	natsMsg	*m = NULL;

	CHECK(natsMsg_free != NULL);
	CHECK(natsMsg_Create(&m, "a.b", NULL, "xy", 2) == NATS_OK);
	CHECK(natsMsgHeader_Set(m, "K", "v") == NATS_OK);
	natsMsg_free(m);	/* LeakSanitizer: headers and all */
}
