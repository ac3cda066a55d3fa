/* Test helper: CHECK(condition, printf-style message...) counts checks and failures and prints
 * every failure with its place; a test's main ends with `return check_report("name");`, which
 * prints the totals and gives the exit status (1 when anything failed: never a verdict printed
 * over an exit status of 0). One test program per file includes it. */
#ifndef ATTN_TESTS_CHECK_H
#define ATTN_TESTS_CHECK_H

#include <stdio.h>

static int checks, failures;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
        }                                                                                     \
    } while (0)

static inline int check_report(const char *name) {
    printf("%s: %d checks, %d failures\n", name, checks, failures);
    return failures ? 1 : 0;
}

#endif
