/* model.c — opening a model (sharded, single-file or config-only), assigning
 * roles, layers, experts and fused groups, and reading rows as float32. */
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "model/arch.h"
#include "model/gguf.h"
#include "quant/ggml_quants.h"
#include "model/ct_read.h"
#include "base/hmap.h"
#include "model/safetensors.h"

int64_t qt_tensor_numel(const struct qt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

int64_t qt_tensor_rows(const struct qt_tensor *t) { return t->ndim >= 2 ? t->shape[0] : 1; }

int64_t qt_tensor_cols(const struct qt_tensor *t) {
    int64_t r = qt_tensor_rows(t);
    return r ? qt_tensor_numel(t) / r : 0;
}

char *qt_tensor_module(const struct qt_tensor *t, char *buf, size_t n) {
    size_t len = strlen(t->name);
    if (len > 7 && !strcmp(t->name + len - 7, ".weight")) len -= 7;
    else if (len > 5 && !strcmp(t->name + len - 5, ".bias")) len -= 5;
    snprintf(buf, n, "%.*s", (int)len, t->name);
    return buf;
}

/* ---- building the tensor table ------------------------------------------- */

static int path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Sort key: embeddings, then layers in order (norms, attention, router,
 * experts by index, shared expert, dense MLP), final norm, lm_head. */
static int section_of(const struct qt_tensor *t) {
    if (t->layer >= 0) return 1;
    if (t->role == QT_ROLE_EMBED) return 0;
    if (t->role == QT_ROLE_FINAL_NORM) return 2;
    if (t->role == QT_ROLE_LM_HEAD) return 3;
    return 4;
}

static int rank_of(enum qt_role r) {
    switch (r) {
    case QT_ROLE_MTP_EMBED: return -9;
    case QT_ROLE_MTP_ENORM: return -8;
    case QT_ROLE_MTP_HNORM: return -7;
    case QT_ROLE_MTP_EH_PROJ: return -6;
    case QT_ROLE_NORM: return -5;
    case QT_ROLE_EXPERT_GATE: case QT_ROLE_EXPERT_UP: case QT_ROLE_EXPERT_DOWN: return QT_ROLE_EXPERT_GATE;
    case QT_ROLE_MTP_NORM: return 1000;
    case QT_ROLE_MTP_HEAD: return 1001;
    default: return (int)r;
    }
}

static int tensor_cmp(const void *a, const void *b) {
    const struct qt_tensor *x = a, *y = b;
    int d;
    if ((d = section_of(x) - section_of(y))) return d;
    if ((d = x->layer - y->layer)) return d;
    if ((d = rank_of(x->role) - rank_of(y->role))) return d;
    if ((d = x->expert - y->expert)) return d;
    if ((d = (int)x->role - (int)y->role)) return d;
    return strcmp(x->name, y->name);
}

static void tensor_classify(struct qt_model *m, struct qt_tensor *t) {
    t->role = qt_classify(t->name, &t->layer, &t->expert);
    t->mtp = 0;
    if (m->cfg.n_mtp > 0 && t->layer >= m->cfg.n_layers) t->mtp = 1;
}

/* Adds a group over the given member indices when there are at least two. */
static int add_group(struct qt_model *m, int *cap, const char *name, enum qt_group_kind kind,
                     int layer, const int *mem, int n) {
    if (n < 2) return QT_OK;
    if (m->n_groups == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        struct qt_group *g = realloc(m->groups, (size_t)nc * sizeof *g);
        if (!g) return QT_ERR;
        m->groups = g;
        *cap = nc;
    }
    struct qt_group *g = &m->groups[m->n_groups];
    g->name = qt_strdup(name);
    g->members = malloc((size_t)n * sizeof *g->members);
    if (!g->name || !g->members) { free(g->name); free(g->members); return QT_ERR; }
    memcpy(g->members, mem, (size_t)n * sizeof *mem);
    g->n_members = n;
    g->kind = kind;
    g->layer = layer;
    for (int i = 0; i < n; i++) m->tensors[mem[i]].group = m->n_groups;
    m->n_groups++;
    return QT_OK;
}

/* Fused groups per layer: q/k/v, dense gate/up, shared gate/up, all routed
 * experts, and MLA's q_a + kv_a (vLLM's fused_qkv_a_proj).  Tensors are
 * sorted by layer, so each layer is one contiguous run. */
static int build_groups(struct qt_model *m, qt_err *err) {
    int cap = 0;
    int *buf[QT_GROUP_KIND_COUNT];
    int nb[QT_GROUP_KIND_COUNT];
    for (int k = 0; k < QT_GROUP_KIND_COUNT; k++) {
        buf[k] = malloc((size_t)(m->n_tensors + 1) * sizeof(int));
        if (!buf[k]) {
            for (int j = 0; j < k; j++) free(buf[j]);
            return qt_err_set(err, "out of memory");
        }
    }
    static const char *const suffix[QT_GROUP_KIND_COUNT] = {
        "self_attn.qkv_proj", "mlp.gate_up_proj", "mlp.shared_experts.gate_up_proj", "mlp.experts",
        "self_attn.fused_qkv_a_proj"};
    int rc = QT_OK;
    for (int i = 0; i < m->n_tensors && rc == QT_OK;) {
        int L = m->tensors[i].layer, j = i;
        if (L < 0) { i++; continue; }
        memset(nb, 0, sizeof nb);
        for (; j < m->n_tensors && m->tensors[j].layer == L; j++) {
            int k = -1;
            switch (m->tensors[j].role) {
            case QT_ROLE_ATTN_Q: case QT_ROLE_ATTN_K: case QT_ROLE_ATTN_V: k = QT_GROUP_QKV; break;
            case QT_ROLE_MLP_GATE: case QT_ROLE_MLP_UP: k = QT_GROUP_GATE_UP; break;
            case QT_ROLE_SHARED_GATE: case QT_ROLE_SHARED_UP: k = QT_GROUP_SHARED_GATE_UP; break;
            case QT_ROLE_EXPERT_GATE: case QT_ROLE_EXPERT_UP: case QT_ROLE_EXPERT_DOWN: k = QT_GROUP_EXPERTS; break;
            case QT_ROLE_ATTN_Q_A: case QT_ROLE_ATTN_KV_A: k = QT_GROUP_MLA_Q; break;
            default: break;
            }
            if (k >= 0) buf[k][nb[k]++] = j;
        }
        /* The group name is the module prefix of its first member's layer. */
        const char *nm = m->tensors[i].name;
        const char *lp = strstr(nm, "layers.");
        int plen = lp ? (int)(lp - nm) : 0;
        for (int k = 0; k < QT_GROUP_KIND_COUNT && rc == QT_OK; k++) {
            char gname[256];
            snprintf(gname, sizeof gname, "%.*slayers.%d.%s", plen, nm, L, suffix[k]);
            if (add_group(m, &cap, gname, (enum qt_group_kind)k, L, buf[k], nb[k]) != QT_OK)
                rc = qt_err_set(err, "out of memory");
        }
        i = j;
    }
    for (int k = 0; k < QT_GROUP_KIND_COUNT; k++) free(buf[k]);
    return rc;
}

/* Links FP8 scale tensors (X.weight_scale, X.weight_scale_inv) to X.weight. */
static void link_scales(struct qt_model *m) {
    char buf[512];
    for (int i = 0; i < m->n_tensors; i++) {
        struct qt_tensor *s = &m->tensors[i];
        int inv = qt_str_ends_with(s->name, ".weight_scale_inv");
        if (!inv && !qt_str_ends_with(s->name, ".weight_scale")) continue;
        size_t base = strlen(s->name) - (inv ? strlen("_scale_inv") : strlen("_scale"));
        snprintf(buf, sizeof buf, "%.*s", (int)base, s->name);
        int w = qt_model_find_index(m, buf);
        if (w < 0) continue;
        struct qt_tensor *t = &m->tensors[w];
        if (t->dtype != QT_DT_F8_E4M3 && t->dtype != QT_DT_F8_E5M2) continue;
        t->scale = i;
        t->scale_inv = inv;
    }
}

static int build_index(struct qt_model *m, qt_err *err);

int qt_model_index(struct qt_model *m, qt_err *err) {
    if (m->index) { qt_hmap_free(m->index); free(m->index); m->index = NULL; }
    return build_index(m, err);
}

static int build_index(struct qt_model *m, qt_err *err) {
    struct qt_hmap *h = calloc(1, sizeof *h);
    if (!h || qt_hmap_init(h, (size_t)m->n_tensors) != QT_OK) { free(h); return qt_err_set(err, "out of memory"); }
    for (int i = 0; i < m->n_tensors; i++)
        if (qt_hmap_put(h, m->tensors[i].name, i) != QT_OK) { qt_hmap_free(h); free(h); return qt_err_set(err, "out of memory"); }
    m->index = h;
    return QT_OK;
}

int qt_model_finish(struct qt_model *m, qt_err *err) {
    for (int i = 0; i < m->n_tensors; i++) {
        struct qt_tensor *t = &m->tensors[i];
        tensor_classify(m, t);
        t->nbytes = (uint64_t)qt_tensor_numel(t) * qt_dtype_size(t->dtype);
        t->group = -1;
        t->scale = -1;
    }
    if (m->n_tensors) qsort(m->tensors, (size_t)m->n_tensors, sizeof *m->tensors, tensor_cmp);
    if (build_index(m, err) != QT_OK) return QT_ERR;
    link_scales(m);
    return build_groups(m, err);
}

/* Adds the tensors of one safetensors file; 3-D fused expert tensors become
 * per-expert views. */
static int add_file_tensors(struct qt_model *m, struct qt_tensor_list *l, int fi, qt_err *err) {
    const struct qt_st_file *f = m->files[fi];
    char nm[512];
    for (int i = 0; i < f->n; i++) {
        const struct qt_st_entry *e = &f->entries[i];
        const uint8_t *data = qt_st_entry_data(f, i);
        const char *gu = strstr(e->name, "mlp.experts.gate_up_proj");
        const char *dn = strstr(e->name, "mlp.experts.down_proj");
        if ((gu || dn) && e->ndim == 3) {
            const char *tail = gu ? gu + strlen("mlp.experts.gate_up_proj") : dn + strlen("mlp.experts.down_proj");
            if (*tail && strcmp(tail, ".weight"))
                return qt_err_set(err, "%s: tensor \"%s\": unexpected name for a fused expert tensor", f->path, e->name);
            int plen = (int)((gu ? gu : dn) - e->name);
            int64_t E = e->shape[0], r = e->shape[1], c = e->shape[2];
            size_t es = qt_dtype_size(e->dtype);
            if (gu && r % 2)
                return qt_err_set(err, "%s: tensor \"%s\": gate_up_proj rows (%lld) not even", f->path, e->name, (long long)r);
            m->fused_experts = 1;
            for (int64_t x = 0; x < E; x++) {
                int parts = gu ? 2 : 1;
                for (int p = 0; p < parts; p++) {
                    int64_t rows = gu ? r / 2 : r;
                    snprintf(nm, sizeof nm, "%.*smlp.experts.%lld.%s.weight", plen, e->name, (long long)x,
                             gu ? (p ? "up_proj" : "gate_proj") : "down_proj");
                    if (qt_tensor_list_add(l, nm, e->dtype, 2, rows, c, 0) != QT_OK) return qt_err_set(err, "out of memory");
                    struct qt_tensor *t = &l->v[l->n - 1];
                    t->file = fi;
                    t->data = data + ((uint64_t)x * (uint64_t)r + (uint64_t)(p * rows)) * (uint64_t)c * es;
                    t->source = qt_strdup(e->name);
                }
            }
            continue;
        }
        if (qt_tensor_list_add(l, e->name, e->dtype, e->ndim, 0, 0, 0) != QT_OK) return qt_err_set(err, "out of memory");
        struct qt_tensor *t = &l->v[l->n - 1];
        if (e->ndim > 4) return qt_err_set(err, "%s: tensor \"%s\": %d dimensions (at most 4)", f->path, e->name, e->ndim);
        for (int d = 0; d < e->ndim; d++) t->shape[d] = e->shape[d];
        t->file = fi;
        t->data = data;
    }
    return QT_OK;
}

static int open_file(struct qt_model *m, const char *path, qt_err *err) {
    struct qt_st_file **nf = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *nf);
    if (!nf) return qt_err_set(err, "out of memory");
    m->files = nf;
    if (qt_st_open(path, &m->files[m->n_files], err) != QT_OK) return QT_ERR;
    m->n_files++;
    return QT_OK;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Opens the shards an index names and checks that every tensor it lists is
 * in the shard it names. */
static int open_index(struct qt_model *m, const char *index_path, qt_err *err) {
    char *text = qt_read_file(index_path, NULL, err);
    if (!text) return QT_ERR;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return qt_err_set(err, "%s: not valid JSON", index_path);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) { cJSON_Delete(root); return qt_err_set(err, "%s: missing \"weight_map\" object", index_path); }
    int rc = QT_OK;
    const cJSON *it;
    char path[4096];
    cJSON_ArrayForEach(it, wm) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/')) {
            rc = qt_err_set(err, "%s: weight_map[\"%s\"] is not a shard file name", index_path, it->string);
            break;
        }
        int fi = -1;
        for (int k = 0; k < m->n_files; k++) {
            const char *b = strrchr(m->files[k]->path, '/');
            if (!strcmp(b ? b + 1 : m->files[k]->path, it->valuestring)) { fi = k; break; }
        }
        if (fi < 0) {
            snprintf(path, sizeof path, "%s/%s", m->path, it->valuestring);
            if (!path_exists(path)) {
                rc = qt_err_set(err, "%s: names shard \"%s\", which does not exist", index_path, it->valuestring);
                break;
            }
            if ((rc = open_file(m, path, err)) != QT_OK) break;
            fi = m->n_files - 1;
        }
        if (qt_st_find(m->files[fi], it->string) < 0) {
            rc = qt_err_set(err, "%s: names tensor \"%s\" in shard \"%s\", which lacks it", index_path, it->string,
                            it->valuestring);
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static int open_dir_shards(struct qt_model *m, qt_err *err) {
    DIR *d = opendir(m->path);
    if (!d) return qt_err_set(err, "%s: %s", m->path, strerror(errno));
    char **names = NULL;
    int n = 0, rc = QT_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!qt_str_ends_with(de->d_name, ".safetensors")) continue;
        char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
        if (!nn) { rc = qt_err_set(err, "out of memory"); break; }
        names = nn;
        names[n++] = qt_strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, str_cmp);
    char path[4096];
    for (int i = 0; i < n && rc == QT_OK; i++) {
        snprintf(path, sizeof path, "%s/%s", m->path, names[i]);
        rc = open_file(m, path, err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int load_config(struct qt_model *m, const char *cfg_path, const struct qt_arch **arch, qt_err *err) {
    char *text = qt_read_file(cfg_path, NULL, err);
    if (!text) return QT_ERR;
    int rc = qt_config_parse(cfg_path, text, &m->cfg, arch, err);
    free(text);
    m->known_arch = *arch != NULL;
    return rc;
}

int qt_model_from_config(const char *config_path, struct qt_model **out, qt_err *err) {
    *out = NULL;
    struct qt_model *m = calloc(1, sizeof *m);
    if (!m) return qt_err_set(err, "out of memory");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", config_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    m->path = qt_strdup(dir);
    m->metadata_only = 1;
    const struct qt_arch *arch;
    struct qt_tensor_list l = {0};
    if (load_config(m, config_path, &arch, err) != QT_OK) goto fail;
    if (qt_arch_tensors(arch, &m->cfg, &l, err) != QT_OK) { qt_err_prefix(err, "%s", config_path); goto fail; }
    /* m owns the tensors from here: the list is emptied so that the error
     * path below frees them once, through qt_model_free */
    m->tensors = l.v;
    m->n_tensors = l.n;
    l.v = NULL;
    l.n = 0;
    if (qt_model_finish(m, err) != QT_OK) goto fail;
    *out = m;
    return QT_OK;
fail:
    for (int i = 0; i < l.n; i++) free(l.v[i].name);
    free(l.v);
    qt_model_free(m);
    return QT_ERR;
}

int qt_model_open(const char *path, struct qt_model **out, qt_err *err) {
    *out = NULL;
    if (!path_exists(path)) return qt_err_set(err, "%s: %s", path, strerror(errno));
    char cfg[4096], idx[4096], one[4096];
    if (!is_dir(path)) {
        if (qt_str_ends_with(path, ".gguf")) return qt_model_open_gguf(path, out, err);
        if (qt_str_ends_with(path, ".json") && !qt_str_ends_with(path, ".safetensors.index.json")) return qt_model_from_config(path, out, err);
        if (!qt_str_ends_with(path, ".safetensors"))
            return qt_err_set(err, "%s: not a model: expected a directory, a config.json or a .safetensors file", path);
    }
    struct qt_model *m = calloc(1, sizeof *m);
    if (!m) return qt_err_set(err, "out of memory");
    struct qt_tensor_list l = {0};
    const struct qt_arch *arch = NULL;
    if (is_dir(path)) {
        m->path = qt_strdup(path);
        size_t n = strlen(m->path);
        while (n > 1 && m->path[n - 1] == '/') m->path[--n] = 0;
        snprintf(cfg, sizeof cfg, "%s/config.json", m->path);
        snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", m->path);
        snprintf(one, sizeof one, "%s/model.safetensors", m->path);
        if (path_exists(idx)) {
            if (open_index(m, idx, err) != QT_OK) goto fail;
        } else if (path_exists(one)) {
            if (open_file(m, one, err) != QT_OK) goto fail;
        } else if (open_dir_shards(m, err) != QT_OK) {
            goto fail;
        }
        if (!m->n_files) {
            qt_model_free(m);
            if (!path_exists(cfg)) return qt_err_set(err, "%s: no config.json and no .safetensors files: not a model directory", path);
            return qt_model_from_config(cfg, out, err);
        }
    } else {
        snprintf(one, sizeof one, "%s", path);
        char *slash = strrchr(one, '/');
        if (slash) *slash = 0; else snprintf(one, sizeof one, ".");
        m->path = qt_strdup(one);
        snprintf(cfg, sizeof cfg, "%s/config.json", m->path);
        if (open_file(m, path, err) != QT_OK) goto fail;
    }
    if (path_exists(cfg)) {
        if (load_config(m, cfg, &arch, err) != QT_OK) goto fail;
    } else {
        snprintf(m->cfg.model_type, sizeof m->cfg.model_type, "unknown");
    }
    for (int fi = 0; fi < m->n_files; fi++)
        if (add_file_tensors(m, &l, fi, err) != QT_OK) goto fail;
    if (path_exists(cfg) && qt_ct_attach(m, &l, cfg, err) != QT_OK) goto fail;
    /* m owns the tensors from here (see qt_model_from_config) */
    m->tensors = l.v;
    m->n_tensors = l.n;
    l.v = NULL;
    l.n = 0;
    if (qt_model_finish(m, err) != QT_OK) goto fail;
    for (int i = 1; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, m->tensors[i - 1].name)) {
            int fa = m->tensors[i - 1].file, fb = m->tensors[i].file;
            if (fa >= 0 && fb >= 0 && fa != fb) {
                const char *a = strrchr(m->files[fa]->path, '/'), *b = strrchr(m->files[fb]->path, '/');
                qt_err_set(err, "%s: tensor \"%s\" is in two shards (%s and %s)", m->path, m->tensors[i].name,
                           a ? a + 1 : m->files[fa]->path, b ? b + 1 : m->files[fb]->path);
            } else {
                qt_err_set(err, "%s: tensor \"%s\" appears twice", m->path, m->tensors[i].name);
            }
            goto fail;
        }
    *out = m;
    return QT_OK;
fail:
    for (int i = 0; i < l.n; i++) { free(l.v[i].name); free(l.v[i].source); }
    free(l.v);
    qt_model_free(m);
    return QT_ERR;
}

void qt_model_free(struct qt_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_tensors; i++) {
        free(m->tensors[i].name);
        free(m->tensors[i].source);
    }
    free(m->tensors);
    for (int i = 0; i < m->n_groups; i++) {
        free(m->groups[i].name);
        free(m->groups[i].members);
    }
    free(m->groups);
    for (int i = 0; i < m->n_files; i++) qt_st_close(m->files[i]);
    free(m->files);
    if (m->index) { qt_hmap_free(m->index); free(m->index); }
    qt_ct_free(m->ct);
    qt_gguf_close(m->gguf);
    free(m->path);
    free(m);
}

int qt_model_find_index(const struct qt_model *m, const char *name) {
    return m->index ? qt_hmap_get(m->index, name) : -1;
}

const struct qt_tensor *qt_model_find(const struct qt_model *m, const char *name) {
    int i = qt_model_find_index(m, name);
    return i >= 0 ? &m->tensors[i] : NULL;
}

int64_t qt_model_params(const struct qt_model *m, int mtp) {
    int64_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->role == QT_ROLE_WEIGHT_SCALE) continue;
        if (mtp >= 0 && t->mtp != mtp) continue;
        n += qt_tensor_numel(t);
    }
    return n;
}

int64_t qt_model_bytes(const struct qt_model *m, int mtp) {
    int64_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (mtp >= 0 && t->mtp != mtp) continue;
        n += (int64_t)t->nbytes;
    }
    return n;
}

/* ---- reading ------------------------------------------------------------- */

void qt_tensor_prefetch(const struct qt_tensor *t) {
    static int off = -1;   /* QTUNE_READAHEAD=0: no hints (to measure what they bring) */
    if (off < 0) off = getenv("QTUNE_READAHEAD") && !strcmp(getenv("QTUNE_READAHEAD"), "0");
    if (off || !t || !t->data || t->ct || t->nbytes == 0) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data, lo = a & ~(uintptr_t)(pg > 0 ? pg - 1 : 4095);
    (void)madvise((void *)lo, (size_t)(a - lo) + (size_t)t->nbytes, MADV_WILLNEED);
}

void qt_model_prefetch_layer(const struct qt_model *m, int layer) {
    if (!m || m->metadata_only || layer < 0) return;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer == layer) qt_tensor_prefetch(&m->tensors[i]);
}

int qt_tensor_read_f32(const struct qt_model *m, const struct qt_tensor *t,
                       int64_t row0, int64_t nrows, float *out, qt_err *err) {
    if (t->ct) return qt_ct_read_f32(m, t, row0, nrows, out, err);
    if (!t->data)
        return qt_err_set(err, "%s: tensor \"%s\": no weights (the model was opened from its config only)", m->path, t->name);
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    if (row0 < 0 || nrows < 0 || row0 + nrows > rows)
        return qt_err_set(err, "%s: rows [%lld, %lld) out of range (%lld rows)", t->name, (long long)row0,
                          (long long)(row0 + nrows), (long long)rows);
    if (t->gg) {
        size_t rs = qt_ggml_row_size(t->gg - 1, cols);
        if (qt_ggml_dequantize(t->gg - 1, (const uint8_t *)t->data + (size_t)row0 * rs, out, nrows * cols) != 0)
            return qt_err_set(err, "%s: tensor \"%s\": GGUF type %s cannot be dequantized by qtune", m->path, t->name,
                              qt_ggml_type_name(t->gg - 1));
        return QT_OK;
    }
    size_t es = qt_dtype_size(t->dtype);
    qt_dtype_to_f32(t->dtype, (const uint8_t *)t->data + (size_t)(row0 * cols) * es, out, (size_t)(nrows * cols));
    if (t->scale < 0) return QT_OK;
    /* FP8 source: multiply by the per-tensor, per-channel or 128x128 block scale. */
    const struct qt_tensor *s = &m->tensors[t->scale];
    int64_t sn = qt_tensor_numel(s);
    float *sv = malloc((size_t)sn * sizeof *sv);
    if (!sv) return qt_err_set(err, "out of memory");
    qt_dtype_to_f32(s->dtype, s->data, sv, (size_t)sn);
    int64_t sc = qt_tensor_cols(s);
    for (int64_t r = 0; r < nrows; r++) {
        int64_t R = row0 + r;
        float *row = out + r * cols;
        if (t->scale_inv) {
            int64_t br = R / 128;
            for (int64_t c = 0; c < cols; c++) {
                int64_t k = br * sc + c / 128;
                row[c] *= k < sn ? sv[k] : 1.0f;
            }
        } else {
            float f = sn == 1 ? sv[0] : sv[R < sn ? R : sn - 1];
            for (int64_t c = 0; c < cols; c++) row[c] *= f;
        }
    }
    free(sv);
    return QT_OK;
}
