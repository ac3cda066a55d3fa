/* attn: the command-line program of libattn.
 *
 * main() only dispatches: it finds the subcommand named by the first argument in cli_commands
 * and runs it. Adding a subcommand means writing cmd_<name>.c, declaring it in cli.h, adding a
 * row below and the file to CMakeLists.txt. */
#include "cli.h"

#include <string.h>

const cli_command_t cli_commands[] = {
    {"demo", "run attention on a six-token example sentence and show the weights",
     cli_demo_usage, cli_cmd_demo},
    {"bench", "time the kernels against naive OpenBLAS and PyTorch, with the machine's peak",
     cli_bench_usage, cli_cmd_bench},
    {"bench-train", "tokens per second of training steps of the seq2seq models, attn vs PyTorch",
     cli_bench_train_usage, cli_cmd_bench_train},
    {"g2p", "pronounce English words with attention models; train and evaluate them",
     cli_g2p_usage, cli_cmd_g2p},
    {"version", "print the version of attn", cli_version_usage, cli_cmd_version},
    {"help", "show this help, or the help of one command", cli_help_usage, cli_cmd_help},
    {NULL, NULL, NULL, NULL},
};

const cli_command_t *cli_find_command(const char *name) {
    for (const cli_command_t *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

static int is_help_flag(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

const char *cli_guess_command(const char *name) {
    const char *names[sizeof cli_commands / sizeof cli_commands[0]];
    size_t n = 0;
    for (const cli_command_t *c = cli_commands; c->name; c++) names[n++] = c->name;
    names[n] = NULL;
    return cli_closest(name, names);
}

static int unknown_command(const char *name) {
    const char *guess = cli_guess_command(name);
    if (guess)
        return cli_usage_error(NULL, "unknown command '%s'; did you mean 'attn %s'?", name,
                               guess);
    return cli_usage_error(NULL, "unknown command '%s'", name);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_print_help(stderr, NULL);
        fprintf(stderr, "\nattn: no command given; run 'attn demo' for an example, "
                        "or 'attn help' for this list\n");
        return CLI_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (is_help_flag(first)) {
        if (argc > 2) return cli_cmd_help(argc - 1, argv + 1);
        cli_print_help(stdout, NULL);
        return CLI_EXIT_OK;
    }
    if (strcmp(first, "--version") == 0) return cli_cmd_version(argc - 1, argv + 1);
    if (first[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'; options come after the command, "
                                     "as in 'attn demo --causal'", first);

    const cli_command_t *cmd = cli_find_command(first);
    if (!cmd) return unknown_command(first);
    /* `attn <command> --help` works for every command, before it parses anything. */
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help_flag(argv[i])) {
            cli_print_help(stdout, cmd);
            return CLI_EXIT_OK;
        }
    }
    return cmd->run(argc - 1, argv + 1);
}
