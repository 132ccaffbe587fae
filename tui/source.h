/* source.h — where the TUI gets what it shows: the model description, the
 * current recipe and how the engine resolves it, per-tensor previews and
 * weight statistics, lint findings, variants and jobs.  Panels read `struct
 * src`; they never compute.
 *
 * The backend (ops table) speaks docs/protocol.md to the session's engine
 * daemon (a process, or a thread of this one with --no-daemon).  Requests
 * are sent without waiting and answered through pump(); while an answer is
 * pending the screen shows what it had.  caps says which engine calls the
 * daemon answers; the UI hides what is not there.
 *
 * The daemon owns the recipe: a key press that edits it sends one edit
 * intent (the `edit` op: the nodes by their tree target and the action), and
 * the answer carries the new recipe, its lint counts, the deployment
 * estimate and the resolution as a change of the one before, so one key is
 * one request and one history step.  What other texts do to each tensor
 * (variants, undo) comes back from the daemon's `resolve`, paged. */
#ifndef QT_TUI_SOURCE_H
#define QT_TUI_SOURCE_H
#include <stdint.h>

#include "model/model.h"
#include "base/qt.h"

enum {
    SRC_CAP_PREVIEW = 1,   /* per-(tensor, scheme) error statistics */
    SRC_CAP_LINT = 2,
    SRC_CAP_DEPLOY = 4,
    SRC_CAP_JOBS = 8,      /* quantize / eval jobs, commit */
    SRC_CAP_HIST = 16,     /* weight statistics and histograms (needs weights) */
    SRC_CAP_DETACH = 32,   /* the engine outlives this client */
    SRC_CAP_TCALIB = 64,   /* what calibrated algorithms did to a tensor (tensor_calib) */
    SRC_CAP_RESUME = 128,  /* an interrupted quantize job resumes (job_resume) */
};

struct src_job {
    int id;
    char kind[16], state[16], stage[64];
    double done, total, rate, eta;   /* eta < 0: unknown */
    char error[256];
    char result[256];         /* a finished job's report in one line */
    /* eval jobs: the frozen recipe (src_text_hash) and, when done, the KL */
    uint64_t recipe_hash;
    int recipe_known, recipe_asked, has_kl;
    double kl, same_top, ppl_ratio;   /* kld mean, same-top-p, PPL q / PPL base */
};

struct src_finding {
    char code[8], severity[8];
    char *message;
    int n_tensors;            /* tensors it names */
    int first;                /* the first one's model index (Enter jumps there), -1 */
};

/* What a recipe text comes to on this model (also used for variants): sums
 * of the engine's per-tensor answers. */
struct src_summary {
    int64_t params;           /* all tensors */
    int64_t bytes_before, bytes_after;   /* all tensors */
    int64_t q_params;         /* quantizable weights (Linear .weight but lm_head, as preview counts) */
    int64_t q_bytes_after;    /* their bytes after */
    int n_quantized;
    double bpw;               /* bits per quantizable weight */
};

/* One tensor as the engine resolves a recipe text. */
struct src_tres {
    char scheme[48];          /* canonical scheme, "bf16" when kept */
    int quantized;            /* 1: a config group's scheme applies */
    int pattern;              /* index in src_res.pats of the entry deciding it, -1 */
    int64_t bytes;            /* after quantization */
};

/* One target or ignore entry of the recipe, with its live match count. */
struct src_pat {
    char text[256];
    int ignore;               /* 1: an ignore entry; 0: a target */
    char group[64];           /* a target's config group */
    char scheme[48];          /* a target's group scheme */
    int matches;              /* modules it matches */
    int first;                /* the first tensor it decides, -1 */
};

/* The engine's resolution of one recipe text (the `resolve` op, paged). */
enum { RS_NONE = 0, RS_PENDING, RS_OK, RS_ERROR };
struct src_res {
    int state;                /* RS_NONE: no text; RS_PENDING: first answer not in yet */
    char err[256];            /* RS_ERROR: why ("recipe:3:5: ...") */
    struct src_tres *t;       /* (model->n_tensors) the last complete answer; NULL before one */
    int n_pats;
    struct src_pat *pats;     /* (n_pats) targets then ignores, per modifier */
    int64_t total_params, total_bytes;   /* the answer's total: quantizable weights and their bytes after */
    int gguf;                 /* 1: the text targets a GGUF file (schemes are ggml types) */
    char ftype[16];           /* its llama.cpp file type ("" none) */
    int64_t gguf_bytes;       /* the GGUF file's tensor data */
    int gguf_fallback;        /* tensors whose row length forced another type */
    struct src_summary sum;
};

/* Statistics of one tensor's weights (the `detail` op). */
enum { DT_NONE = 0, DT_PENDING, DT_OK, DT_ERROR };
struct src_detail {
    int tensor;               /* -1: none */
    int state;                /* DT_* */
    int64_t rows_sampled, elements;
    double min, max, mean, std;
    double lo, hi;            /* histogram range */
    int64_t counts[64];       /* (64) equal bins over [lo, hi] */
    char err[128];
};

/* One preview result: the error a tensor would suffer under a scheme. */
enum { PV_NONE = 0, PV_PENDING, PV_OK, PV_ERROR };
struct src_prev {
    int tensor;               /* -1: empty slot */
    char scheme[48];
    int state;                /* PV_* */
    double rel_rmse, sqnr_db, max_abs;
    double rel_out;           /* calibration-weighted error (has_out) */
    int has_out;              /* 1: asked with calibration statistics and the tensor was observed */
    int64_t tokens;           /* calibration tokens the tensor saw (routed experts: routed to it), -1 unknown */
    int64_t bytes;
    char err[96];
};

/* What the recipe's calibrated algorithms do to one tensor (the
 * `tensor_calib` op): the algorithm the current recipe runs for it and the
 * figures the newest quantize job measured (GPTQ's output error on the
 * calibration Hessian beside round-to-nearest's, tokens, fallback). */
enum { TC_NONE = 0, TC_PENDING, TC_OK, TC_ERROR };
struct src_tcalib {
    int tensor;               /* -1: none */
    int state;                /* TC_* */
    int version;              /* the recipe version it was asked for */
    int jobs_done;            /* done quantize jobs when asked (a new one asks again) */
    char algo[16];            /* what the recipe runs for it ("GPTQ", "RTN"; "" when kept) */
    char modifiers[96];       /* the recipe's calibrated modifiers in order ("SmoothQuant GPTQ") */
    int job;                  /* the job of the figures, 0: none */
    char job_state[16];       /* "done", or "running" while its layers finish */
    char scheme[48];          /* the scheme the figures are of */
    char algorithm[16];       /* what the job ran for it ("GPTQ", "RTN") */
    int64_t tokens;           /* calibration tokens it saw, -1 unknown */
    double out_err, rtn_err;  /* output error on the calibration Hessian, and RTN's; < 0 unknown */
    double sparsity, sp_err;  /* SparseGPT: measured sparsity and the pruning's own error; < 0 none */
    int fallback;             /* low-token rule applied */
    char err[128];
};

/* What the pattern prompt's text matches (the `match` op). */
enum { MT_NONE = 0, MT_PENDING, MT_OK, MT_ERROR };
struct src_match {
    char text[256];           /* the pattern last wished for */
    int gen;                  /* bumped when text changes */
    int sent;                 /* generation of the request in flight, 0: none */
    int state;                /* MT_* of text: MT_PENDING until its answer is in */
    int modules;              /* MT_OK: quantizable modules it matches */
    char err[200];            /* MT_ERROR: why (the pattern does not compile) */
};

/* The last edit intent as the engine answered it (app.c makes the message
 * line of it). */
struct src_edit {
    int seq;                  /* bumped per answer; 0: none yet */
    int ok;                   /* 0: refused, why holds the error */
    int pattern;              /* 1: a target / ignore pattern was added */
    int ignore;               /* the action was ignore (nodes) or ignore-pattern */
    int all_kept;             /* ignore of kept nodes: they were un-ignored */
    int multi;                /* more than one node */
    int gguf;                 /* the action was gguf or ftype (the target, the file type) */
    int stepped;              /* 0: no node could take the step (why says why) */
    char node[256];           /* the first node's target, or the pattern */
    char scheme[48];          /* what it was asked to get */
    char now[48];             /* what the first node resolves to after the edit */
    char why[256];
};

struct src;

struct src_ops {
    const char *name;
    /* fd to poll for engine messages, -1 when none, and the poll events. */
    int (*fd)(struct src *s);
    short (*events)(struct src *s);
    /* Reads what the engine sent; returns 1 when the state changed. */
    int (*pump)(struct src *s);
    /* 1 when no request is outstanding and no job is queued or running
     * (script `:wait-idle`). */
    int (*idle)(struct src *s);
    /* Requests sent and not yet answered. */
    int (*pending)(struct src *s);
    /* Sends an edit intent: action ("bits-", "ignore", "target" ...,
     * recipe/edit.h) on n nodes named by their tree targets; scheme and
     * pattern where the action takes them (NULL otherwise).  The answer
     * lands in s->edit. */
    int (*edit_send)(struct src *s, const char *action, int n, const char *const *nodes, const char *scheme,
                     const char *pattern, qt_err *err);
    /* Asks the engine to write the current recipe to path (answered with a
     * note). */
    int (*write_send)(struct src *s, const char *path, qt_err *err);
    int (*undo)(struct src *s, qt_err *err);
    int (*redo)(struct src *s, qt_err *err);
    /* Stores text (NULL: the current recipe as the engine has it, every
     * request sent before included) as variant slot (0 = A, 1 = B, ...). */
    int (*variant_store)(struct src *s, int slot, const char *text, qt_err *err);
    /* Replaces the current recipe by text: one history step (undo restores
     * the one before).  The answer is the recipe state. */
    int (*recipe_set)(struct src *s, const char *text, qt_err *err);
    int (*variant_drop)(struct src *s, int slot, qt_err *err);    /* empties the slot */
    /* Sets one of the session's settings (the daemon keeps them for the
     * next attach): key "gpu", "eval_data", "arith" or "deploy_kv_dtype"
     * with str, "eval_ctx", "eval_chunks", "calib_samples", "calib_len",
     * "deploy_ctx", "deploy_batch", "deploy_util" or "deploy_tp" with num
     * (str NULL; num <= 0: back to the default). */
    int (*settings_send)(struct src *s, const char *key, const char *str, double num, qt_err *err);
    int (*job_submit)(struct src *s, qt_err *err);
    int (*job_cancel)(struct src *s, int id, qt_err *err);
    /* Asks for previews of n (tensor, scheme) pairs; answers arrive through
     * pump into the preview cache. */
    int (*preview_send)(struct src *s, int n, const int *tensors, char (*schemes)[48], qt_err *err);
    /* Asks how text resolves (paged; the answer lands in src_res_of(s, slot)):
     * slot 0 the current recipe, 1 + k variant k (A, B, ...). */
    int (*resolve_send)(struct src *s, int slot, const char *text, qt_err *err);
    /* Asks what pattern matches; the answer for generation gen lands in
     * s->match (dropped when the text has changed since). */
    int (*match_send)(struct src *s, const char *pattern, int gen, qt_err *err);
    /* Asks for the weight statistics of a tensor (into s->detail). */
    int (*detail_send)(struct src *s, int tensor, qt_err *err);
    /* Asks what the calibrated algorithms did to a tensor (into s->tcalib). */
    int (*tcalib_send)(struct src *s, int tensor, qt_err *err);
    /* Resumes an interrupted, failed or cancelled quantize job from its last
     * finished layer (a new job; the answer is a note). */
    int (*job_resume)(struct src *s, int id, qt_err *err);
    /* Asks for lint findings / the deployment estimate of the current recipe. */
    int (*lint_send)(struct src *s, qt_err *err);
    int (*deploy_send)(struct src *s, const char *gpu, qt_err *err);
    /* Submits a sensitivity job: dKL of each group quantized alone to scheme. */
    int (*sens_submit)(struct src *s, const char *scheme, qt_err *err);
    /* Submits an eval job (KL against the original) of a recipe text. */
    int (*eval_submit)(struct src *s, const char *text, qt_err *err);
    /* Submits a calib job over path (NULL: the session's calibration text,
     * else share/data/calib.txt); when it is done, previews carry rel_out. */
    int (*calib_submit)(struct src *s, const char *path, qt_err *err);
    /* Submits a plan job for s->plan.target (ΔKL measured on the
     * calibration text, or the table s->plan.dkl_path), see struct src_plan. */
    int (*plan_submit)(struct src *s, qt_err *err);
    /* Asks the planner's size side for s->plan.target and the current
     * recipe's place on the shown plan job's table (into s->plan.size). */
    int (*plan_size_send)(struct src *s, qt_err *err);
    void (*close)(struct src *s);
};

/* The state the source keeps, one struct per concern. */

/* Named variants the workbench shows: A .. H (the daemon keeps A .. Z). */
#define SRC_NVAR 8

/* The current recipe as the engine holds it, and the variants' texts. */
struct src_recipe {
    char *text;
    int version, can_undo, can_redo;
    int replies;              /* answers to recipe_get / undo / redo so far (the message of undo waits for its own) */
    int saved_version;        /* version last written or committed */
    char *path;               /* -r file, where `w` writes */
    char *variant[SRC_NVAR];  /* variants A, B, ... (NULL when empty) */
};

/* How the engine resolves the current recipe and the variants. */
struct src_resolution {
    struct src_res cur;       /* the last complete answer for the current recipe */
    int stale;                /* the answer for the current text is on its way */
    struct src_res variant[SRC_NVAR];   /* variants A, B, ... */
};

/* Jobs as last reported, what `c` submits, the last sensitivity scan. */
struct src_jobs {
    int n;
    struct src_job *list;     /* (n) oldest first */
    char commit_kind[16];     /* job kind `c` submits ("" when commit is not offered) */
    char no_jobs_why[64];     /* the engine's reason weight jobs are not offered ("" none) */
    int commit_eval;          /* 1: `c` also submits an eval job after the quantize job */
    int can_sens;             /* the engine runs sensitivity jobs */
    int can_eval;             /* the engine runs eval jobs (eval_submit) */
    int n_dkl;
    char **dkl_name;          /* (n_dkl) module prefixes, "model.layers.1.self_attn" */
    double *dkl;              /* (n_dkl) mean KL increase with that unit alone quantized */
    char dkl_scheme[48];      /* the scheme the scan used */
    /* the eval settings of the eval and dKL jobs the workbench submits
     * (the session's settings, kept by the daemon) */
    char eval_data[1024];     /* absolute path of the eval text */
    int eval_ctx, eval_chunks;   /* 0: the engine's default */
    int calib_samples, calib_len;   /* the commit's calibration: samples and their tokens (0: 128 x 512) */
    /* the arithmetic mode of w / scale (f32 | bf16) of the session's
     * previews and of the jobs that round weights: the daemon names the
     * one in force; "" until it has */
    char arith[8];
};

/* The preview cache (SRC_CAP_PREVIEW): open addressing on (tensor, scheme),
 * and this frame's wishes. */
struct src_preview {
    struct src_prev *slots;   /* (cap) */
    int cap, n;
    int want_n;               /* this frame's wishes, visible rows first */
    int want_t[256];          /* (want_n) tensors */
    char want_s[256][48];     /* (want_n) schemes */
    int inflight;
};

/* Lint findings (SRC_CAP_LINT): from a lint answer or an edit's answer. */
struct src_lint {
    int stale, inflight, n_errors, n_warnings;
    int n_findings;
    struct src_finding *findings;  /* (n_findings) */
    int n_flag;
    unsigned char *flag;      /* (n_flag = model n_tensors) 1: a finding names the tensor (the tree's lint filter) */
};

/* The deployment estimate (SRC_CAP_DEPLOY) and the GPU catalog's names. */
struct src_deploy {
    void *result;             /* cJSON result of the last deploy answer, or NULL */
    char gpu[48], err[200];
    int stale, inflight;
    int n_gpus;
    char **gpus;              /* (n_gpus) catalog names, for the deploy panel */
    /* the panel's other choices as the session keeps them (settings
     * deploy_ctx, deploy_batch, deploy_kv_dtype, deploy_util, deploy_tp);
     * 0 / "": the engine's default.  The daemon applies them to every
     * estimate: the panel only shows and sends them. */
    long ctx, batch;
    int tp;
    double util;
    char kv[16];
};

/* Calibration statistics (calib jobs): previews are asked with path once
 * ready, and then carry rel_out. */
struct src_calib {
    int can;                  /* the engine runs calib jobs */
    char path[1024];          /* absolute path of the calibration text ("" when none) */
    int ready;                /* a calib job over path is done */
    int job;                  /* the newest calib job whose report was taken, 0 when none */
    int gen;                  /* bumped when the statistics or the arithmetic mode change (answers to older asks are dropped) */
};

/* The plan panel: the target the person chose, the planner's size side for
 * it (the plan_size op: no weights needed), the newest plan job and the
 * report of the newest finished one (its curve, every point's recipe). */
struct src_plan {
    int can;                  /* the engine runs plan jobs on this model (weights) */
    int can_size;             /* the engine answers plan_size */
    char target[128];         /* as written: "W4A16", "22GiB", "4.5bpw", "2xH100-80G" */
    char data[1024];          /* the text ΔKL is measured on (the calibration text) */
    char dkl_path[1024];      /* QTUNE_PLAN_DKL: a ΔKL table the job reuses instead of measuring ("" none) */
    int gptq;                 /* 1: GPTQ candidates (calibrated on the calibration text), 0: round to nearest */
    void *size;               /* cJSON result of the last plan_size answer, or NULL */
    char size_err[256];       /* its refusal ("" none) */
    int size_stale, size_inflight, want;
    int job;                  /* the newest plan job submitted here or seen, 0 none */
    void *report;             /* cJSON report of the newest finished plan job, NULL */
    int report_job;           /* its id */
    int gen;                  /* bumped when report changes */
};

struct src {
    const struct src_ops *ops;
    void *impl;
    int caps;
    char engine_state[48];    /* "local", "idle", "busy 1 job" ... */
    char session[64];
    char session_dir[1024];   /* the session's directory, as the daemon says ("" when unknown) */
    char device[96];          /* "NVIDIA H200 139.2/139.8 GiB free" (the engine's device on CUDA), else "" */
    /* the model as the daemon describes it (no file of it is opened here) */
    struct qt_model *model;
    char model_name[128];     /* last path component, for the status line */
    struct src_recipe recipe;
    struct src_resolution resol;
    struct src_jobs jobs;
    struct src_preview preview;
    struct src_lint lint;
    struct src_deploy deploy;
    struct src_calib calib;
    struct src_plan plan;
    struct src_edit edit;     /* the last edit intent's answer */
    struct src_match match;   /* the pattern prompt's live match count (src_match_want) */
    /* weight statistics of the last tensor asked for (SRC_CAP_HIST) */
    struct src_detail detail;
    int detail_want, detail_inflight;
    /* what calibrated algorithms did to the last tensor asked for (SRC_CAP_TCALIB) */
    struct src_tcalib tcalib;
    int tcalib_want, tcalib_inflight;
    int changed;              /* set by the source, cleared by the UI after a redraw */
    char note[256];           /* a message from the engine for the message line */
    int note_err;             /* 1: the note is an error */
    int quit_ok;              /* after close: the engine was asked to stop */
    double idle_grace;        /* after src_shutdown_idle with jobs: seconds the engine waits after them, -1 unknown */
};

/* Opens a source over the engine daemon of session (NULL: the model's
 * directory name): connects (starting the daemon, or with inproc running it
 * in a thread over a socketpair), opens model_path in the session (NULL:
 * the session's model, as `qtune attach` does), sets the recipe file's text
 * when given.  The model's description is also opened here, read-only, for
 * the tree.  Caller frees with src_close. */
int src_open_daemon(const char *model_path, const char *recipe_path, const char *session,
                    int inproc, struct src **out, qt_err *err);
/* Asks the daemon to stop (quit, as opposed to detach): now when it has no
 * jobs, else once its jobs are done and no client is attached, after a
 * grace period (s->idle_grace seconds).  Returns the number of jobs that
 * keep it running for now. */
int src_shutdown_idle(struct src *s);

void src_close(struct src *s);

/* FNV-1a hash of a recipe text: eval jobs are matched to variants by it. */
uint64_t src_text_hash(const char *text);
/* The eval job of a recipe text to show: the newest done one with its KL,
 * else the newest queued or running one, else the newest failed one; NULL
 * when none. */
const struct src_job *src_eval_of(const struct src *s, const char *text);
/* 1 when a recipe text is empty (white space only): the original model,
 * whose KL against itself is 0 by definition (no eval job is run for it;
 * the engine refuses one without a recipe). */
int src_text_original(const char *text);

/* Called by the backend after recipe_text changed: marks lint, deploy and
 * the resolution stale and asks the engine to resolve the new text. */
void src_recipe_changed(struct src *s);

/* The resolution of slot: 0 the current recipe, 1 + k variant k. */
struct src_res *src_res_of(struct src *s, int slot);
/* Fills r's per-pattern first tensors and its summary from r->t. */
void src_res_finish(const struct src *s, struct src_res *r);
void src_res_free(struct src_res *r);

/* ---- edits: each is one history step ---- */

/* What pattern matches, as the engine answers: returns s->match, whose
 * state is MT_PENDING until the answer for this text is in (src_tick asks,
 * one request in flight; answers for an older text are dropped). */
const struct src_match *src_match_want(struct src *s, const char *pattern);
/* Asks the engine to write the current recipe to path (atomically); a
 * relative path is taken from this process's working directory. */
int src_write_recipe(struct src *s, const char *path, qt_err *err);

/* ---- previews, lint, deploy: asked for by the frame, answered later ---- */

/* Forgets every preview (they are asked again as rows are drawn): after the
 * calibration statistics changed. */
void src_preview_clear(struct src *s);

/* The cached preview of (tensor, scheme), or NULL when never asked. */
const struct src_prev *src_preview_get(const struct src *s, int tensor, const char *scheme);
/* Wishes a preview for this frame (ignored when cached or in flight). */
void src_preview_want(struct src *s, int tensor, const char *scheme);
/* After a frame: sends what the frame wished for (previews, up to 64 per
 * request, one request in flight; weight statistics; the pattern prompt's
 * match count) and refreshes stale lint and deploy; clears the wishes. */
void src_tick(struct src *s);

/* The weight statistics of tensor, or NULL while they are not in: wishes
 * them for this frame (sent by src_tick, one request in flight). */
const struct src_detail *src_detail_get(struct src *s, int tensor);

/* What the calibrated algorithms did to tensor, or NULL while not in (or
 * the engine has no tensor_calib): wished for this frame like the detail;
 * asked again when the recipe or the done quantize jobs change. */
const struct src_tcalib *src_tcalib_get(struct src *s, int tensor);
/* Done quantize jobs the source knows of. */
int src_quantize_done(const struct src *s);

#endif
