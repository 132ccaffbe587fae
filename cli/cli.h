/* cli.h — what the command-line front end shares: each command is a function
 * taking (argc, argv) with argv[0] the command name, returning the exit code. */
#ifndef QT_CLI_H
#define QT_CLI_H
#include <stdio.h>

#include "base/qt.h"

/* Prints "qtune: <msg>" to stderr and returns 1 (or 2 for usage errors). */
int cli_fail(const qt_err *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *cmd, const char *usage);

/* stdout and stderr escape control characters (see main.c); progress lines
 * that redraw with \r and ESC[K write to the raw stderr and escape the
 * untrusted part themselves with cli_esc (into buf of size n; returns buf). */
FILE *cli_raw_stderr(void);
/* Gives curses the real stdout/stderr back (the TUI guards its cells). */
void cli_unfilter_output(void);
const char *cli_esc(const char *s, char *buf, size_t n);

/* Prints a cJSON document (as void* to keep cJSON out of this header) on
 * stdout, formatted, followed by a newline; frees it. */
void cli_print_json(void *cjson);

/* 1 when arg equals one of the help spellings. */
int cli_is_help(const char *arg);
/* Prints "usage: qtune USAGE" on stdout (CMD --help) and returns 0. */
int cli_help(const char *usage);

/* Commands.  Each lives in cli/cmd_<name>.c; the table in main.c lists only
 * those linked in (weak references), so a build never offers a command it
 * does not have. */
#define QT_COMMANDS(X)                                                           \
    X(open, "[open] MODEL [-r RECIPE] [-s SESSION] [--calib FILE] [--ascii] [--no-color] [--no-daemon]", "open the workbench (TUI)")     \
    X(inspect, "inspect MODEL [--json]", "model summary and tensor table")          \
    X(preview, "preview MODEL (--scheme S | -r RECIPE) [--calib FILE] [--filter RE] [--json]", \
      "weight error of every tensor under a recipe or scheme")                      \
    X(lint, "lint MODEL -r RECIPE [--tp N] [--ep] [--json]", "check a recipe for what vLLM refuses") \
    X(deploy, "deploy MODEL [-r RECIPE] [--gpu NAME] [--tp N] [--ctx N] [--batch N] [--kv-dtype T] [--util F] [--gpus FILE] [--json]", \
      "size, GPUs needed and cost of serving a recipe")                              \
    X(eval, "eval MODEL (-r RECIPE | --scheme S | --quantized OUT) --data FILE [--ctx N] [--chunks N] [--second-half] [--f32-arith] [--json]", \
      "KL divergence and perplexity against the original")                          \
    X(quantize, "quantize MODEL -r RECIPE -o OUT [--format ct|gguf] [--calib FILE] [--max-shard-size 5GB] [--tp N] [--ep] [--allow-lint-errors] [--force] [--json]", \
      "write a compressed-tensors checkpoint")                                       \
    X(sensitivity, "sensitivity MODEL (--scheme S | -r RECIPE) --data FILE [--by group|layer] [--ctx N] [--chunks N] [--f32-arith] [--json]", \
      "KL cost of quantizing each group alone")                                      \
    X(plan, "plan MODEL [--data FILE] (--target-bytes SIZE | --target-bpw B | --gpus N --gpu NAME [--ctx N] [--batch N]) [--format ct|gguf] [--candidates LIST] [-r BASE_RECIPE] [-o RECIPE] [--dkl FILE] [--eval FILE] [--json]", \
      "the recipe with the least KL for a size, a bpw or GPUs")                     \
    X(report, "report SESSION|CHECKPOINT -o FILE.html|FILE.md|FILE.json [--gpu NAME] [--tp N] [--eval FILE] [--dkl FILE] [--model MODEL] [--no-error] [--no-plots]", \
      "a report page (HTML or Markdown) to attach to a pull request")              \
    X(tokenize, "tokenize MODEL [--file F | TEXT] [--pieces] [--json]", "token ids (and pieces) of a text")   \
    X(engine, "engine --session NAME [--foreground]", "run the engine daemon")        \
    X(ls, "ls [--json]", "list sessions")                                                     \
    X(attach, "attach SESSION [--since SEQ] [--no-follow] [--no-start] [--raw]", "reattach to a session")                             \
    X(kill, "kill SESSION [--force]", "stop a session's daemon")                               \
    X(bench, "bench NAME [--json]", "performance benchmarks")

#define QT_CMD_DECL(name, usage, summary) \
    int qt_cmd_##name(int argc, char **argv) __attribute__((weak));
QT_COMMANDS(QT_CMD_DECL)
#undef QT_CMD_DECL

/* Benchmarks, each in the file of the feature it measures: fills a cJSON
 * object (name, metric, value, baseline, ratio, unit, detail) or an error. */
#define QT_BENCHES(X)                                                        \
    X(inspect, "open the GLM-4.6 metadata model (~45,000 tensors)")          \
    X(preview, "error statistics throughput vs memcpy")                     \
    X(forward, "forward pass GFLOP/s vs OpenBLAS sgemm")                    \
    X(quantize, "checkpoint write throughput vs plain copy (--format gguf: Q4_K_M GGUF)") \
    X(gptq, "GPTQ of a GLM-4.6 MoE layer on the GPU (CUDA backend)")        \
    X(ui, "time per frame replaying 1,000 navigation keys")                  \
    X(plan, "GLM-4.6 planner search (knapsack + curve) once ΔKL is known")

#define QT_BENCH_DECL(name, summary) \
    int qt_bench_##name(void **json_out, qt_err *err) __attribute__((weak));
QT_BENCHES(QT_BENCH_DECL)
#undef QT_BENCH_DECL
/* The result every benchmark returns: {name, metric, value, baseline, ratio,
 * unit, detail}; *detail gets the empty detail object to fill. */
struct cJSON;
struct cJSON *cli_bench_result(const char *name, const char *metric, double value, double baseline, double ratio,
                               const char *unit, struct cJSON **detail);
/* `qtune bench quantize --format gguf`: the output format a benchmark
 * measures ("ct" unless given). */
extern const char *qt_bench_format;

#endif
