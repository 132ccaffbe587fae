/* cmd_inspect.c — `qtune inspect MODEL [--json]`: model summary and tensor
 * table, grouped by layer with routed experts summarized. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "backend/select.h"
#include "io/report.h"
#include "model/gguf.h"
#include "quant/ggml_quants.h"
#include "base/format.h"
#include "model/model.h"
#include "model/ct_read.h"
#include "model/safetensors.h"

static const char usage[] = "inspect MODEL [--json]";
static const char help[] =
    "usage: qtune inspect MODEL [--json]\n"
    "  The model summary (architecture, layers, experts, parameters, size, dtype or the\n"
    "  quantization of a checkpoint qtune wrote) and one line per tensor: role, name,\n"
    "  shape, dtype or scheme, parameters, fused group.\n"
    "  MODEL   a checkpoint directory, a .safetensors file or a config.json alone\n"
    "  --json  {model{arch, layers, mtp_layers, experts, params, bytes, dtype,\n"
    "                 disk_bytes, stored (quantized checkpoints)},\n"
    "           tensors[{name, shape, dtype, role, layer, expert, group}]}\n";

static int n_experts_seen(const struct qt_model *m) {
    int e = -1;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].expert > e) e = m->tensors[i].expert;
    return e + 1;
}

static int n_layers_seen(const struct qt_model *m, int mtp) {
    int mx = -1, mn = 1 << 30;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer < 0 || t->mtp != mtp) continue;
        if (t->layer > mx) mx = t->layer;
        if (t->layer < mn) mn = t->layer;
    }
    return mx < 0 ? 0 : mx - mn + 1;
}

static int stored_summary(const struct qt_model *m, uint64_t *disk, char *buf, size_t n);

static cJSON *model_json(const struct qt_model *m) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", m->path);
    cJSON_AddStringToObject(j, "arch", m->cfg.model_type);
    if (m->cfg.architecture[0]) cJSON_AddStringToObject(j, "architecture", m->cfg.architecture);
    cJSON_AddBoolToObject(j, "known_arch", m->known_arch);
    cJSON_AddBoolToObject(j, "metadata_only", m->metadata_only);
    cJSON_AddBoolToObject(j, "fused_experts", m->fused_experts);
    cJSON_AddNumberToObject(j, "layers", m->known_arch ? m->cfg.n_layers : n_layers_seen(m, 0));
    cJSON_AddNumberToObject(j, "mtp_layers", m->known_arch ? m->cfg.n_mtp : n_layers_seen(m, 1));
    cJSON_AddNumberToObject(j, "experts", m->known_arch ? m->cfg.n_experts : n_experts_seen(m));
    cJSON_AddNumberToObject(j, "experts_per_token", m->cfg.top_k);
    cJSON_AddNumberToObject(j, "shared_experts", m->cfg.n_shared_experts);
    cJSON_AddNumberToObject(j, "hidden", m->cfg.hidden);
    cJSON_AddNumberToObject(j, "vocab", m->cfg.vocab);
    cJSON_AddNumberToObject(j, "params", (double)qt_model_params(m, 0));
    cJSON_AddNumberToObject(j, "mtp_params", (double)qt_model_params(m, 1));
    cJSON_AddNumberToObject(j, "bytes", (double)qt_model_bytes(m, -1));
    cJSON_AddNumberToObject(j, "tensors", m->n_tensors);
    cJSON_AddNumberToObject(j, "files", m->gguf ? ((const struct qt_gguf *)m->gguf)->n_files : m->n_files);
    if (m->gguf) cJSON_AddStringToObject(j, "format", "gguf");
    cJSON_AddStringToObject(j, "dtype", qt_dtype_name(m->cfg.dtype));
    uint64_t disk;
    char types[256];
    if (stored_summary(m, &disk, types, sizeof types)) {   /* a quantized checkpoint: what it stores */
        cJSON_AddNumberToObject(j, "disk_bytes", (double)disk);
        cJSON_AddStringToObject(j, "stored", types);
    }
    {
        char be[256];
        qt_backend_describe(be, sizeof be);
        cJSON_AddStringToObject(j, "backend", qt_backend_active_name());
        cJSON_AddStringToObject(j, "device", be);
    }
    if (qt_ct_format(m)) cJSON_AddStringToObject(j, "quantization", qt_ct_format(m));
    return j;
}

/* What a quantized checkpoint (compressed-tensors or GGUF) stores: its
 * bytes on disk (*disk) and its weight types, distinct, in tensor order:
 * "int4-g128-sym", "Q4_K, Q6_K, BF16" (at most 4, then "..."), into buf.
 * Returns 0 for an unquantized model (the header says its dtype). */
static int stored_summary(const struct qt_model *m, uint64_t *disk, char *buf, size_t n) {
    const struct qt_gguf *g = m->gguf;
    if (!qt_ct_format(m) && !g) return 0;
    *disk = 0;
    if (g)
        for (int i = 0; i < g->n_files; i++) *disk += g->map_len[i];
    else
        for (int i = 0; i < m->n_files; i++) *disk += m->files[i]->size;
    const char *seen[5];
    int ns = 0, more = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        const char *ty = NULL;
        if (g) ty = t->gg && t->ndim >= 2 ? qt_ggml_type_name(t->gg - 1) : NULL;
        else if (!qt_ct_info(m, t, &ty, NULL, NULL)) ty = NULL;
        if (!ty) continue;
        int k = 0;
        while (k < ns && strcmp(seen[k], ty)) k++;
        if (k < ns) continue;
        if (ns < 4) seen[ns++] = ty;
        else more = 1;
    }
    size_t l = 0;
    buf[0] = 0;
    for (int k = 0; k < ns && l < n; k++) l += (size_t)snprintf(buf + l, n - l, "%s%s", k ? ", " : "", seen[k]);
    if (more && l < n) snprintf(buf + l, n - l, ", ...");
    if (!ns) snprintf(buf, n, "%s", g ? "GGUF" : qt_ct_format(m));
    return 1;
}

/* The dtype column's width: its widest entry (schemes are wider than dtypes). */
static int dtype_width(const struct qt_model *m);

/* The dtype column: a quantized module's scheme, else the dtype. */
static const char *dtype_or_scheme(const struct qt_model *m, const struct qt_tensor *t) {
    const char *scheme;
    if (t->gg) return qt_ggml_type_name(t->gg - 1);   /* a GGUF file: its ggml type */
    return qt_ct_info(m, t, &scheme, NULL, NULL) ? scheme : qt_dtype_name(t->dtype);
}

static const char *short_name(const struct qt_tensor *t) {
    const char *p = strstr(t->name, "layers.");
    if (!p || t->layer < 0) return t->name;
    p = strchr(p + 7, '.');
    return p ? p + 1 : t->name;
}

/* The dtypes of a run of routed experts [i, k): 1 when every tensor has the
 * same one; else 0 and, per projection, its dtype or dtypes ("gate Q4_K, up
 * Q4_K, down Q5_0": llama-quantize gives ffn_down_exps its own type). */
static int expert_types(const struct qt_model *m, int i, int k, char *buf, size_t n) {
    static const struct { enum qt_role role; const char *name; } proj[3] = {
        {QT_ROLE_EXPERT_GATE, "gate"}, {QT_ROLE_EXPERT_UP, "up"}, {QT_ROLE_EXPERT_DOWN, "down"}};
    const char *first = dtype_or_scheme(m, &m->tensors[i]);
    int same = 1;
    for (int x = i; x < k; x++) same &= !strcmp(dtype_or_scheme(m, &m->tensors[x]), first);
    size_t l = 0;
    buf[0] = 0;
    for (int q = 0; q < 3 && !same; q++) {
        const char *seen[3];
        int ns = 0, more = 0;
        for (int x = i; x < k; x++) {
            if (m->tensors[x].role != proj[q].role) continue;
            const char *ty = dtype_or_scheme(m, &m->tensors[x]);
            int s = 0;
            while (s < ns && strcmp(seen[s], ty)) s++;
            if (s < ns) continue;
            if (ns < 3) seen[ns++] = ty;
            else more = 1;
        }
        if (!ns) continue;
        if (l < n) l += (size_t)snprintf(buf + l, n - l, "%s%s ", l ? ", " : "", proj[q].name);
        for (int s = 0; s < ns && l < n; s++) l += (size_t)snprintf(buf + l, n - l, "%s%s", s ? "+" : "", seen[s]);
        if (more && l < n) l += (size_t)snprintf(buf + l, n - l, "+...");
    }
    return same;
}

static void print_text(const struct qt_model *m) {
    char a[64], b[64], c[64];
    const struct qt_config *cf = &m->cfg;
    printf("model     %s\n", m->path);
    printf("arch      %s%s%s%s\n", cf->model_type, cf->architecture[0] ? " (" : "", cf->architecture,
           cf->architecture[0] ? ")" : "");
    if (!m->known_arch) printf("          unknown architecture: roles guessed from tensor names\n");
    printf("layers    %d", m->known_arch ? cf->n_layers : n_layers_seen(m, 0));
    if (cf->n_mtp) printf(" + %d MTP", cf->n_mtp);
    if (cf->n_experts) printf("    experts %d (top-%d, %d shared)", cf->n_experts, cf->top_k, cf->n_shared_experts);
    printf("    hidden %d    vocab %d\n", cf->hidden, cf->vocab);
    printf("params    %s", qt_fmt_count(qt_model_params(m, 0), a, sizeof a));
    if (qt_model_params(m, 1)) printf(" (+%s MTP)", qt_fmt_count(qt_model_params(m, 1), b, sizeof b));
    uint64_t disk;
    char types[256];
    if (stored_summary(m, &disk, types, sizeof types)) {   /* a quantized checkpoint: what it stores, not BF16 */
        char d[32], bpw[32] = "";
        int64_t np = qt_model_params(m, -1);
        if (m->gguf && np)   /* the tensors' bytes over their weights, as quantize --format gguf reports it */
            snprintf(bpw, sizeof bpw, " (%.2f bpw)", 8.0 * (double)qt_model_bytes(m, -1) / (double)np);
        printf("    %s on disk%s    %s%s%s    (%s as %s)\n", qt_fmt_bytes((double)disk, d, sizeof d), bpw, types,
               qt_ct_format(m) ? " " : "", qt_ct_format(m) ? qt_ct_format(m) : "",
               qt_fmt_bytes(2.0 * (double)qt_model_params(m, -1), c, sizeof c), "BF16");
    } else {
        printf("    %s    %s\n", qt_fmt_bytes((double)qt_model_bytes(m, -1), c, sizeof c), qt_dtype_name(cf->dtype));
    }
    {
        char be[256];
        qt_backend_describe(be, sizeof be);
        printf("backend   %s\n", be);
    }
    int nfiles = m->gguf ? ((const struct qt_gguf *)m->gguf)->n_files : m->n_files;
    printf("tensors   %d in %d %sfile%s%s%s\n\n", m->n_tensors, nfiles, m->gguf ? "GGUF " : "", nfiles == 1 ? "" : "s",
           m->metadata_only ? " (metadata only: derived from config.json)" : "",
           m->fused_experts ? " (fused 3-D expert layout)" : "");
    if (m->gguf) printf("GGUF: the dtype column shows each tensor's ggml type (stacked experts listed per expert)\n\n");
    if (qt_ct_format(m)) printf("quantized compressed-tensors %s: the dtype column shows each module's scheme\n\n", qt_ct_format(m));
    int dw = dtype_width(m);
    printf("  %-16s %-44s %-14s %-*s %9s  %s\n", "role", "tensor", "shape", dw, "dtype", "params", "fused group");
    int last_layer = -2;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer != last_layer && t->layer >= 0) {
            int moe = 0;
            for (int k = i; k < m->n_tensors && m->tensors[k].layer == t->layer; k++)
                if (m->tensors[k].role == QT_ROLE_ROUTER) moe = 1;
            printf("layer %d%s%s\n", t->layer, t->mtp ? " (MTP)" : "", moe ? " — MoE" : " — dense");
        } else if (t->layer < 0 && last_layer >= 0) {
            printf("model\n");
        }
        last_layer = t->layer;
        if (t->expert >= 0) {
            /* Summarize the run of routed experts of this layer. */
            int k = i, ne = 0;
            int64_t params = 0;
            const struct qt_tensor *f[3] = {0};
            while (k < m->n_tensors && m->tensors[k].layer == t->layer && m->tensors[k].expert >= 0) {
                const struct qt_tensor *x = &m->tensors[k];
                params += qt_tensor_numel(x);
                if (x->expert + 1 > ne) ne = x->expert + 1;
                if (x->role == QT_ROLE_EXPERT_GATE && !f[0]) f[0] = x;
                if (x->role == QT_ROLE_EXPERT_UP && !f[1]) f[1] = x;
                if (x->role == QT_ROLE_EXPERT_DOWN && !f[2]) f[2] = x;
                k++;
            }
            char sh[3][48] = {"-", "-", "-"};
            for (int q = 0; q < 3; q++) if (f[q]) qt_fmt_shape(f[q]->shape, f[q]->ndim, sh[q], sizeof sh[q]);
            char what[96], etypes[160];
            snprintf(what, sizeof what, "mlp.experts.{0..%d}.{gate,up,down}", ne - 1);
            int same = expert_types(m, i, k, etypes, sizeof etypes);
            printf("  %-16s %-44s %-14s %-*s %9s  %s\n", "experts", what, sh[0], dw, same ? dtype_or_scheme(m, t) : "mixed",
                   qt_fmt_count(params, a, sizeof a), t->group >= 0 ? "experts" : "");
            if (same) printf("  %-16s %-44s %-14s   (%d tensors; down %s)\n", "", "", "", k - i, sh[2]);
            else printf("  %-16s %-44s %-14s   (%d tensors; down %s; %s)\n", "", "", "", k - i, sh[2], etypes);
            i = k - 1;
            continue;
        }
        qt_fmt_shape(t->shape, t->ndim, b, sizeof b);
        const char *g = "";
        if (t->group >= 0) {
            const char *gn = m->groups[t->group].name, *dot = strrchr(gn, '.');
            g = dot ? dot + 1 : gn;
        }
        printf("  %-16s %-44s %-14s %-*s %9s  %s\n", qt_role_name(t->role), short_name(t), b, dw, dtype_or_scheme(m, t),
               qt_fmt_count(qt_tensor_numel(t), a, sizeof a), g);
    }
}

static int dtype_width(const struct qt_model *m) {
    int w = 8;
    for (int i = 0; i < m->n_tensors; i++) {
        int l = (int)strlen(dtype_or_scheme(m, &m->tensors[i]));
        if (l > w) w = l;
    }
    return w;
}

int qt_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-') return cli_usage("inspect", usage);
        else if (!path) path = argv[i];
        else return cli_usage("inspect", usage);
    }
    if (!path) return cli_usage("inspect", usage);
    qt_err err = {{0}};
    struct qt_model *m;
    if (qt_model_open(path, &m, &err) != QT_OK) return cli_fail(&err);
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddItemToObject(doc, "model", model_json(m));
        cJSON *ts = cJSON_AddArrayToObject(doc, "tensors");
        for (int i = 0; i < m->n_tensors; i++) cJSON_AddItemToArray(ts, qt_tensor_json(NULL, m, i));
        cli_print_json(doc);
    } else {
        print_text(m);
    }
    qt_model_free(m);
    return 0;
}
