/* attn help [command]: the program's help, or one command's. */
#include "cli.h"

const char cli_help_usage[] =
    "Usage: attn help [COMMAND]\n"
    "\n"
    "Without COMMAND, lists the commands. With one, prints that command's help, the same as\n"
    "'attn COMMAND --help'.\n";

void cli_print_help(FILE *out, const cli_command_t *cmd) {
    if (cmd) {
        fputs(cmd->usage, out);
        return;
    }
    fprintf(out,
            "attn %s - scaled dot-product attention for the CPU\n"
            "\n"
            "Usage: attn COMMAND [OPTIONS]\n"
            "\n"
            "Commands:\n",
            attn_version());
    for (const cli_command_t *c = cli_commands; c->name; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fputs("\n"
          "'attn help COMMAND' or 'attn COMMAND --help' shows the options of a command.\n"
          "\n"
          "Environment:\n"
          "  ATTN_KERNEL       'fused' (default) or 'reference': the kernel the library runs\n"
          "  ATTN_NUM_THREADS  threads the library uses (default: the number of online cores)\n"
          "  NO_COLOR          when set, never colour the output\n"
          "\n"
          "Exit status: 0 success, 1 failure, 2 wrong command line.\n",
          out);
}

int cli_cmd_help(int argc, char **argv) {
    if (argc > 2)
        return cli_usage_error("help", "takes at most one command name, got %d arguments",
                               argc - 1);
    if (argc == 1) {
        cli_print_help(stdout, NULL);
        return CLI_EXIT_OK;
    }
    const char *name = argv[1];
    if (name[0] == '-') return cli_usage_error("help", "unknown option '%s'", name);
    const cli_command_t *cmd = cli_find_command(name);
    if (!cmd) {
        const char *guess = cli_guess_command(name);
        if (guess)
            return cli_usage_error("help", "there is no command '%s'; did you mean '%s'?", name,
                                   guess);
        return cli_usage_error("help", "there is no command '%s'", name);
    }
    cli_print_help(stdout, cmd);
    return CLI_EXIT_OK;
}
