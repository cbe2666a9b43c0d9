/* The in-memory store against the common store behaviour. */
#include "store_suite.h"

static ripp_store *suite_new(void)
{
    int err = 1;
    ripp_store *s = ripp_store_memory_new(&err);
    if (s && err != 0) return NULL;
    return s;
}

static void suite_del(ripp_store *s)
{
    ripp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS,
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
