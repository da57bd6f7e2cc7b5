/*
 * jobconfig.c's tests: a definition's configuration validated.
 */
#include <string.h>

#include "batchd.h"
#include "unit.h"

/* jobconfig_validate() refuses what it must, naming the field. */
void
test_validate_config(void)
{
	struct jobconfig	c;
	struct error		e;

	memset(&c, 0, sizeof c);
	memset(&e, 0, sizeof e);
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source.type") == 0);
	c.source.type = SRC_WORKSPACE;
	c.source.oneof = SRC_GIT;
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source") == 0);
	c.source.oneof = SRC_WORKSPACE;
	c.source.path = "../up";
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source.workspace.path") == 0);
	c.source.path = "a/../../b";
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	c.source.path = "jobs";
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.type") == 0);
	c.type = JT_PYTHON;
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.source_location") == 0);
	c.source_location = "x.py";
	c.args = "'unbalanced";
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.args") == 0);
	c.args = NULL;
	c.has_timeout = 1;
	c.timeout_s = 0;
	CHECK(jobconfig_validate(&c, "config", &e) == -1);
	CHECK(strcmp(e.field, "config.timeout_seconds") == 0);
	c.has_timeout = 0;
	CHECK(jobconfig_validate(&c, "config", &e) == 0);
	jobconfig_fill_defaults(&c);
	CHECK(c.timeout_s == 3600 && c.retry.delay_s == 60 &&
	    c.retry.num_retries == 0 && !c.retry.on_timeout);
}
