/* attn demo: attention on a hand-made six-token sentence, small enough to read.
 *
 * Every token has a 4-d query (what it looks for) and key (what it offers) over four features:
 * noun, verb, function word, pronoun. The values are the keys themselves, so an output row says
 * which kinds of token its query gathered. The demo runs attn_forward for O and the LSE, then
 * attn_probs for the weights, checks that the two agree, and prints both, with and without a
 * causal mask. */
#include "cli.h"
#include "svg_heatmap.h"

#include <math.h>
#include <string.h>

const char cli_demo_usage[] =
    "Usage: attn demo [--full | --causal] [--color=WHEN] [--svg=FILE] [--kernel=NAME] [--threads=N]\n"
    "\n"
    "Runs one attention head over the sentence 'the cat sat and it purred', whose tokens have\n"
    "hand-made 4-d queries and keys, and prints the attention weights (a table and a heatmap),\n"
    "the outputs and the log-sum-exp of every query, first without a mask, then causal.\n"
    "\n"
    "Options:\n"
    "  --full          only the variant without a mask\n"
    "  --causal        only the causal variant (each token sees itself and the tokens before)\n"
    "  --color=WHEN    colour the heatmap: auto (default: when stdout is a terminal and NO_COLOR\n"
    "                  is unset), always or never; --no-color is the same as --color=never\n"
    "  --svg=FILE      also draw the weights as an SVG heatmap (one panel per variant)\n"
    "  --kernel=NAME   auto (default: ATTN_KERNEL, else fused), fused or reference\n"
    "  --threads=N     threads for the library (default: ATTN_NUM_THREADS, else all cores)\n"
    "\n"
    "Exits with 1 if the library reports an error or the weights and outputs disagree.\n";

enum { N = 6, D = 4 };

static const char *const tokens[N] = {"the", "cat", "sat", "and", "it", "purred"};
static const char *const features[D] = {"noun", "verb", "func", "pron"};

/* What each token looks for. */
static const float queries[N][D] = {
    {6, 0, 0, 0}, /* the:    its noun */
    {0, 0, 6, 0}, /* cat:    its determiner (a function word) */
    {5, 0, 0, 0}, /* sat:    its subject, a noun */
    {0, 6, 0, 0}, /* and:    the verbs it joins */
    {6, 0, 0, 0}, /* it:     the noun it stands for */
    {3, 0, 0, 6}, /* purred: its subject, the pronoun first, a noun second */
};

/* What each token offers; also its value. */
static const float keys[N][D] = {
    {0, 0, 1, 0}, /* the:    function word */
    {1, 0, 0, 0}, /* cat:    noun */
    {0, 1, 0, 0}, /* sat:    verb */
    {0, 0, 1, 0}, /* and:    function word */
    {0, 0, 0, 1}, /* it:     pronoun */
    {0, 1, 0, 0}, /* purred: verb */
};

/* Largest disagreement allowed between attn_probs and attn_forward (fp32 rounding). */
#define DEMO_TOLERANCE 1e-5

typedef struct demo_opts {
    int full, causal;
    const char *svg; /* --svg FILE: the weights as a picture */
    cli_color_t color;
    attn_kernel_t kernel;
    long threads; /* 0: the library's default */
} demo_opts_t;

static void print_sentence_and_embeddings(const attn_params_t *params) {
    printf("attn demo: one attention head over a six-token sentence\n\n  \"");
    for (int i = 0; i < N; i++) printf(i ? " %s" : "%s", tokens[i]);
    printf("\"\n\n");
    printf("Each token has a query (what it looks for) and a key (what it offers) over 4 features:\n"
           "noun, verb, function word (func) and pronoun (pron). The values V are the keys, so an\n"
           "output row shows which kinds of token its query gathered.\n\n");
    cli_matrix_t q = {N, D, tokens, features, &queries[0][0], D, NULL};
    cli_matrix_t k = {N, D, tokens, features, &keys[0][0], D, NULL};
    printf("  queries Q\n");
    cli_print_table(stdout, &q, 2, 1);
    printf("\n  keys K = values V\n");
    cli_print_table(stdout, &k, 2, 1);
    printf("\nFor example 'it' looks for a noun and finds 'cat'; 'purred' looks for its subject "
           "'it'.\n");
    int threads = (int)attn_get_num_threads();
    printf("\nscale = 1/sqrt(D) = %.2f, kernel %s, %d thread%s\n", 1.0 / sqrt((double)D),
           attn_kernel_name(params->kernel), threads, threads == 1 ? "" : "s");
}

/* Runs and prints one variant, leaving its weights in shown; returns an exit status. */
static int run_variant(const demo_opts_t *opt, attn_causal_t causal, int color,
                       float shown[N][N]) {
    attn_shape_t shape = {1, 1, 1, N, N, D, D}; /* B Hq Hkv Nq Nk D Dv */
    attn_params_t params = attn_default_params();
    params.causal = causal;
    params.kernel = opt->kernel;

    const int64_t sb = N * D, sn = D; /* one sequence, one head, rows of D */
    attn_src_t q = attn_src_f32(&queries[0][0], sb, sb, sn);
    attn_src_t k = attn_src_f32(&keys[0][0], sb, sb, sn);
    attn_src_t v = attn_src_f32(&keys[0][0], sb, sb, sn);
    float out[N][D], lse[N], probs[N][N];
    attn_dst_t o = attn_dst_f32(&out[0][0], sb, sb, sn);

    attn_status_t st = attn_forward(&shape, &params, q, k, v, o, lse);
    if (st != ATTN_STATUS_OK) return cli_library_error("demo", "attn_forward", st);
    st = attn_probs(&shape, &params, q, k, lse, 0, 0, 0, N, &probs[0][0], N);
    if (st != ATTN_STATUS_OK) return cli_library_error("demo", "attn_probs", st);
    memcpy(shown, probs, sizeof probs);

    unsigned char hidden[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) hidden[i][j] = causal != ATTN_CAUSAL_NONE && j > i;

    if (causal == ATTN_CAUSAL_NONE)
        printf("\n== Full attention (no mask) ==\n\n");
    else
        printf("\n== Causal attention (ATTN_CAUSAL_TOP_LEFT: token i sees tokens 0..i) ==\n\n");
    printf("Weights P = softmax(scale * Q K^T) from attn_probs; row i is the query token, "
           "column j the key:\n");
    cli_matrix_t pm = {N, N, tokens, tokens, &probs[0][0], N,
                       causal != ATTN_CAUSAL_NONE ? &hidden[0][0] : NULL};
    cli_print_table(stdout, &pm, 2, 3);
    printf("\n");
    cli_print_heatmap(stdout, &pm, 2, color);

    printf("\nStrongest key per query:\n");
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int j = 1; j < N; j++)
            if (probs[i][j] > probs[i][best]) best = j;
        printf("  %-6s -> %-6s %.2f%s", tokens[i], tokens[best], (double)probs[i][best],
               i % 3 == 2 ? "\n" : "    ");
    }
    printf("\nOutputs O = P V and log-sum-exp LSE from attn_forward:\n");
    static const char *const out_cols[D + 1] = {"noun", "verb", "func", "pron", "LSE"};
    float table[N][D + 1];
    for (int i = 0; i < N; i++) {
        memcpy(table[i], out[i], sizeof out[i]);
        table[i][D] = lse[i];
    }
    cli_matrix_t om = {N, D + 1, tokens, out_cols, &table[0][0], D + 1, NULL};
    cli_print_table(stdout, &om, 2, 3);

    /* The two entry points compute the same thing two ways: check that they agree. */
    double sum_err = 0.0, out_err = 0.0, hidden_max = 0.0;
    for (int i = 0; i < N; i++) {
        double sum = 0.0;
        for (int j = 0; j < N; j++) {
            sum += probs[i][j];
            if (hidden[i][j] && fabs((double)probs[i][j]) > hidden_max)
                hidden_max = fabs((double)probs[i][j]);
        }
        if (!(fabs(sum - 1.0) <= sum_err)) sum_err = fabs(sum - 1.0);
        for (int d = 0; d < D; d++) {
            double pv = 0.0;
            for (int j = 0; j < N; j++) pv += (double)probs[i][j] * (double)keys[j][d];
            double e = fabs(pv - (double)out[i][d]);
            if (!(e <= out_err)) out_err = e;
        }
    }
    printf("\nCheck: rows of P sum to 1 within %.1e; P V matches O within %.1e", sum_err,
           out_err);
    if (causal != ATTN_CAUSAL_NONE) printf("; hidden weights are %s", hidden_max ? "NOT 0" : "0");
    printf("\n");
    if (!(sum_err <= DEMO_TOLERANCE && out_err <= DEMO_TOLERANCE) || hidden_max != 0.0) {
        fprintf(stderr,
                "attn demo: the weights from attn_probs and the outputs of attn_forward disagree "
                "by more than %.0e; this is a bug in libattn %s, please report it with this "
                "output\n",
                DEMO_TOLERANCE, attn_version());
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

static int parse_options(int argc, char **argv, demo_opts_t *opt) {
    static const char *const names[] = {"--full",   "--causal",  "--color", "--no-color",
                                        "--kernel", "--threads", "--svg",   NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (strcmp(a, "--full") == 0) {
            opt->full = 1;
        } else if (strcmp(a, "--causal") == 0) {
            opt->causal = 1;
        } else if (strcmp(a, "--no-color") == 0) {
            opt->color = CLI_COLOR_NEVER;
        } else if ((r = cli_option_value("demo", argc, argv, &i, "--color", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (strcmp(val, "auto") == 0) opt->color = CLI_COLOR_AUTO;
            else if (strcmp(val, "always") == 0) opt->color = CLI_COLOR_ALWAYS;
            else if (strcmp(val, "never") == 0) opt->color = CLI_COLOR_NEVER;
            else
                return cli_usage_error("demo", "--color must be auto, always or never, not '%s'",
                                       val);
        } else if ((r = cli_option_value("demo", argc, argv, &i, "--svg", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val) return cli_usage_error("demo", "--svg needs a file name, as in --svg=demo.svg");
            opt->svg = val;
        } else if ((r = cli_option_value("demo", argc, argv, &i, "--kernel", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (strcmp(val, "auto") == 0) opt->kernel = ATTN_KERNEL_AUTO;
            else if (strcmp(val, "fused") == 0) opt->kernel = ATTN_KERNEL_FUSED;
            else if (strcmp(val, "reference") == 0) opt->kernel = ATTN_KERNEL_REFERENCE;
            else
                return cli_usage_error("demo",
                                       "--kernel must be auto, fused or reference, not '%s'", val);
        } else if ((r = cli_option_value("demo", argc, argv, &i, "--threads", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 4096, &opt->threads) != 0)
                return cli_usage_error("demo", "--threads must be a whole number from 1 to 4096, "
                                               "not '%s'", val);
        } else if (a[0] == '-') {
            char name[64];
            size_t n = strcspn(a, "=");
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, a, n);
            name[n] = '\0';
            const char *guess = cli_closest(name, names);
            if (guess)
                return cli_usage_error("demo", "unknown option '%s'; did you mean '%s'?", a,
                                       guess);
            return cli_usage_error("demo", "unknown option '%s'", a);
        } else {
            return cli_usage_error("demo", "takes no arguments besides options, got '%s'", a);
        }
    }
    if (!opt->full && !opt->causal) opt->full = opt->causal = 1;
    return CLI_EXIT_OK;
}

int cli_cmd_demo(int argc, char **argv) {
    demo_opts_t opt = {0, 0, NULL, CLI_COLOR_AUTO, ATTN_KERNEL_AUTO, 0};
    int rc = parse_options(argc, argv, &opt);
    if (rc != CLI_EXIT_OK) return rc;
    if (opt.threads > 0) {
        attn_status_t st = attn_set_num_threads((int32_t)opt.threads);
        if (st != ATTN_STATUS_OK) return cli_library_error("demo", "attn_set_num_threads", st);
    }
    attn_params_t shown = attn_default_params();
    shown.kernel = opt.kernel;
    print_sentence_and_embeddings(&shown);

    int color = cli_use_color(opt.color, stdout);
    static float weights[2][N][N];
    const float *maps[2];
    const char *titles[2];
    int n = 0;
    if (opt.full) {
        if ((rc = run_variant(&opt, ATTN_CAUSAL_NONE, color, weights[n])) != CLI_EXIT_OK)
            return rc;
        maps[n] = &weights[n][0][0];
        titles[n++] = "no mask";
    }
    if (opt.causal) {
        if ((rc = run_variant(&opt, ATTN_CAUSAL_TOP_LEFT, color, weights[n])) != CLI_EXIT_OK)
            return rc;
        maps[n] = &weights[n][0][0];
        titles[n++] = "causal";
    }
    if (opt.svg) {
        svg_heatmap_t h = {"attn demo: attention weights from attn_probs",
                           "row: the query token; column: the key token it attends to",
                           N, N, tokens, tokens, n, n, maps, titles};
        char err[512];
        if (svg_heatmap_write(opt.svg, &h, err, sizeof err) != 0) {
            fprintf(stderr, "attn demo: --svg: %s\n", err);
            return CLI_EXIT_FAILED;
        }
        printf("\nthe weights as a picture: %s\n", opt.svg);
    }
    return CLI_EXIT_OK;
}
