/* attn version: the version of the library the program runs with. */
#include "cli.h"

#include <string.h>

const char cli_version_usage[] =
    "Usage: attn version\n"
    "\n"
    "Prints 'attn X.Y.Z', the version of the libattn the program is running with. It warns on\n"
    "stderr when that differs from the version of the attn.h the program was built with.\n";

#define CLI_STR2(x) #x
#define CLI_STR(x) CLI_STR2(x)
#define CLI_HEADER_VERSION \
    CLI_STR(ATTN_VERSION_MAJOR) "." CLI_STR(ATTN_VERSION_MINOR) "." CLI_STR(ATTN_VERSION_PATCH)

int cli_cmd_version(int argc, char **argv) {
    if (argc > 1) {
        if (argv[1][0] == '-')
            return cli_usage_error("version", "unknown option '%s'", argv[1]);
        return cli_usage_error("version", "takes no arguments, got '%s'", argv[1]);
    }
    const char *lib = attn_version();
    printf("attn %s\n", lib);
    if (strcmp(lib, CLI_HEADER_VERSION) != 0)
        fprintf(stderr,
                "attn: warning: this program was built with attn.h %s but runs with libattn "
                "%s; rebuild it, or point LD_LIBRARY_PATH at the matching library\n",
                CLI_HEADER_VERSION, lib);
    return CLI_EXIT_OK;
}
