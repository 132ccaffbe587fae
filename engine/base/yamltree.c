/* yamltree.c — libyaml event stream <-> struct qt_yaml tree. */
#include "base/yamltree.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- nodes ---- */

static struct qt_yaml *node_new(enum qt_yaml_kind k) {
    struct qt_yaml *n = calloc(1, sizeof *n);
    if (n) n->kind = k;
    return n;
}

struct qt_yaml *qt_yaml_scalar(const char *v) {
    struct qt_yaml *n = node_new(QT_YAML_SCALAR);
    if (!n) return NULL;
    n->value = strdup(v ? v : "");
    if (!n->value) { free(n); return NULL; }
    return n;
}

struct qt_yaml *qt_yaml_seq(int flow) {
    struct qt_yaml *n = node_new(QT_YAML_SEQ);
    if (n) n->flow = flow;
    return n;
}

struct qt_yaml *qt_yaml_map(int flow) {
    struct qt_yaml *n = node_new(QT_YAML_MAP);
    if (n) n->flow = flow;
    return n;
}

void qt_yaml_free(struct qt_yaml *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        qt_yaml_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->value);
    free(n);
}

static int grow(struct qt_yaml *c) {
    if (c->n < c->cap) return QT_OK;
    int cap = c->cap ? c->cap * 2 : 4;
    struct qt_yaml **it = realloc(c->items, (size_t)cap * sizeof *it);
    if (!it) return QT_ERR;
    c->items = it;
    if (c->kind == QT_YAML_MAP) {
        char **k = realloc(c->keys, (size_t)cap * sizeof *k);
        if (!k) return QT_ERR;
        c->keys = k;
    }
    c->cap = cap;
    return QT_OK;
}

struct qt_yaml *qt_yaml_copy(const struct qt_yaml *n) {
    if (!n) return NULL;
    struct qt_yaml *c = node_new(n->kind);
    if (!c) return NULL;
    c->style = n->style;
    c->flow = n->flow;
    c->line = n->line;
    c->col = n->col;
    if (n->value && !(c->value = strdup(n->value))) goto oom;
    for (int i = 0; i < n->n; i++) {
        if (grow(c)) goto oom;
        struct qt_yaml *it = qt_yaml_copy(n->items[i]);
        if (!it) goto oom;
        if (n->kind == QT_YAML_MAP) {
            c->keys[c->n] = strdup(n->keys[i]);
            if (!c->keys[c->n]) { qt_yaml_free(it); goto oom; }
        }
        c->items[c->n++] = it;
    }
    return c;
oom:
    qt_yaml_free(c);
    return NULL;
}

int qt_yaml_find(const struct qt_yaml *m, const char *key) {
    if (!m || m->kind != QT_YAML_MAP) return -1;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return i;
    return -1;
}

struct qt_yaml *qt_yaml_get(const struct qt_yaml *m, const char *key) {
    int i = qt_yaml_find(m, key);
    return i < 0 ? NULL : m->items[i];
}

int qt_yaml_set(struct qt_yaml *m, const char *key, struct qt_yaml *v) {
    if (!m || m->kind != QT_YAML_MAP || !v) { qt_yaml_free(v); return QT_ERR; }
    int i = qt_yaml_find(m, key);
    if (i >= 0) {
        qt_yaml_free(m->items[i]);
        m->items[i] = v;
        return QT_OK;
    }
    char *k = strdup(key);
    if (!k || grow(m)) { free(k); qt_yaml_free(v); return QT_ERR; }
    m->keys[m->n] = k;
    m->items[m->n++] = v;
    return QT_OK;
}

int qt_yaml_del(struct qt_yaml *m, const char *key) {
    int i = qt_yaml_find(m, key);
    if (i < 0) return 0;
    qt_yaml_free(m->items[i]);
    free(m->keys[i]);
    memmove(m->items + i, m->items + i + 1, (size_t)(m->n - i - 1) * sizeof *m->items);
    memmove(m->keys + i, m->keys + i + 1, (size_t)(m->n - i - 1) * sizeof *m->keys);
    m->n--;
    return 1;
}

int qt_yaml_push(struct qt_yaml *s, struct qt_yaml *v) {
    if (!s || s->kind != QT_YAML_SEQ || !v || grow(s)) { qt_yaml_free(v); return QT_ERR; }
    s->items[s->n++] = v;
    return QT_OK;
}

void qt_yaml_remove(struct qt_yaml *s, int i) {
    if (!s || s->kind != QT_YAML_SEQ || i < 0 || i >= s->n) return;
    qt_yaml_free(s->items[i]);
    memmove(s->items + i, s->items + i + 1, (size_t)(s->n - i - 1) * sizeof *s->items);
    s->n--;
}

const char *qt_yaml_str(const struct qt_yaml *n) {
    return n && n->kind == QT_YAML_SCALAR ? n->value : NULL;
}

int qt_yaml_is_null(const struct qt_yaml *n) {
    if (!n || n->kind != QT_YAML_SCALAR || n->style != QT_YS_PLAIN) return 0;
    const char *v = n->value;
    return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

int qt_yaml_num(const struct qt_yaml *n, double *v) {
    const char *s = qt_yaml_str(n);
    if (!s || !*s) return 0;
    char *end;
    double d = strtod(s, &end);
    if (*end) return 0;
    *v = d;
    return 1;
}

int qt_yaml_bool(const struct qt_yaml *n, int *v) {
    const char *s = qt_yaml_str(n);
    if (!s) return 0;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) { *v = 1; return 1; }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) { *v = 0; return 1; }
    return 0;
}

/* ---- loading ---- */

struct anchor { char *name; struct qt_yaml *node; };

struct loader {
    yaml_parser_t p;
    const char *fname;
    struct anchor *anchors;   /* (n_anchors) */
    int n_anchors;
    qt_err *err;
    long nodes, alias_nodes;  /* built so far, in all / by alias copies */
    int depth;
};

static long tree_size(const struct qt_yaml *n) {
    long k = 1;
    for (int i = 0; i < n->n; i++) k += tree_size(n->items[i]);
    return k;
}

/* Counts k more nodes against the bounds; QT_ERR with the message when over. */
static int budget(struct loader *L, long k, int alias, int line, int col) {
    L->nodes += k;
    if (alias) L->alias_nodes += k;
    if (alias && L->alias_nodes > QT_YAML_MAX_ALIAS_NODES)
        return qt_err_set(L->err, "%s:%d:%d: aliases expand to more than %d nodes; refusing (an alias bomb?)",
                          L->fname, line, col, QT_YAML_MAX_ALIAS_NODES);
    if (L->nodes > QT_YAML_MAX_NODES)
        return qt_err_set(L->err, "%s:%d:%d: more than %d nodes; refusing", L->fname, line, col, QT_YAML_MAX_NODES);
    return QT_OK;
}

static int parse_fail(struct loader *L) {
    yaml_parser_t *p = &L->p;
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    if (p->context)
        return qt_err_set(L->err, "%s:%zu:%zu: %s %s", L->fname, m->line + 1, m->column + 1,
                          p->problem ? p->problem : "error", p->context);
    return qt_err_set(L->err, "%s:%zu:%zu: %s", L->fname, m->line + 1, m->column + 1,
                      p->problem ? p->problem : "YAML error");
}

static int add_anchor(struct loader *L, const yaml_char_t *name, struct qt_yaml *n) {
    if (!name) return QT_OK;
    struct anchor *a = realloc(L->anchors, (size_t)(L->n_anchors + 1) * sizeof *a);
    if (!a) return qt_err_set(L->err, "%s: out of memory", L->fname);
    L->anchors = a;
    a[L->n_anchors].name = strdup((const char *)name);
    a[L->n_anchors].node = n;
    L->n_anchors++;
    return QT_OK;
}

/* Parses the node whose first event is ev (consumed by the caller). */
static int load_node(struct loader *L, yaml_event_t *ev, struct qt_yaml **out) {
    struct qt_yaml *n = NULL;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        for (int i = L->n_anchors - 1; i >= 0; i--)
            if (!strcmp(L->anchors[i].name, (const char *)ev->data.alias.anchor)) {
                /* counted before copying: the copy itself is the blow-up */
                if (budget(L, tree_size(L->anchors[i].node), 1, line, col)) return QT_ERR;
                n = qt_yaml_copy(L->anchors[i].node);
                if (!n) return qt_err_set(L->err, "%s: out of memory", L->fname);
                *out = n;
                return QT_OK;
            }
        return qt_err_set(L->err, "%s:%d:%d: unknown alias *%s", L->fname, line, col,
                          (const char *)ev->data.alias.anchor);
    }
    case YAML_SCALAR_EVENT: {
        if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
            return qt_err_set(L->err, "%s:%d:%d: a string contains a NUL character (\\0); refusing", L->fname, line,
                              col);
        if (budget(L, 1, 0, line, col)) return QT_ERR;
        n = node_new(QT_YAML_SCALAR);
        if (!n) return qt_err_set(L->err, "%s: out of memory", L->fname);
        n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->value) { free(n); return qt_err_set(L->err, "%s: out of memory", L->fname); }
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = QT_YS_SINGLE; break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = QT_YS_DOUBLE; break;
        case YAML_LITERAL_SCALAR_STYLE: n->style = QT_YS_LITERAL; break;
        case YAML_FOLDED_SCALAR_STYLE: n->style = QT_YS_FOLDED; break;
        default: n->style = QT_YS_PLAIN; break;
        }
        n->line = line;
        n->col = col;
        *out = n;
        return add_anchor(L, ev->data.scalar.anchor, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        if (L->depth >= QT_YAML_MAX_DEPTH)
            return qt_err_set(L->err, "%s:%d:%d: nested deeper than %d levels; refusing", L->fname, line, col,
                              QT_YAML_MAX_DEPTH);
        if (budget(L, 1, 0, line, col)) return QT_ERR;
        n = node_new(is_map ? QT_YAML_MAP : QT_YAML_SEQ);
        if (!n) return qt_err_set(L->err, "%s: out of memory", L->fname);
        n->flow = is_map ? ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                         : ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
        n->line = line;
        n->col = col;
        const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
                                           : ev->data.sequence_start.anchor;
        char *anchor_copy = anchor ? strdup((const char *)anchor) : NULL;
        for (;;) {
            yaml_event_t e;
            if (!yaml_parser_parse(&L->p, &e)) { free(anchor_copy); qt_yaml_free(n); return parse_fail(L); }
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            char *key = NULL;
            if (is_map) {
                if (e.type != YAML_SCALAR_EVENT) {
                    int kl = (int)e.start_mark.line + 1, kc = (int)e.start_mark.column + 1;
                    yaml_event_delete(&e);
                    free(anchor_copy);
                    qt_yaml_free(n);
                    return qt_err_set(L->err, "%s:%d:%d: mapping keys must be plain strings",
                                      L->fname, kl, kc);
                }
                int nul = memchr(e.data.scalar.value, 0, e.data.scalar.length) != NULL;
                int kl = (int)e.start_mark.line + 1, kc = (int)e.start_mark.column + 1;
                key = nul ? NULL : strndup((const char *)e.data.scalar.value, e.data.scalar.length);
                yaml_event_delete(&e);
                if (!key) {
                    free(anchor_copy);
                    qt_yaml_free(n);
                    return nul ? qt_err_set(L->err, "%s:%d:%d: a key contains a NUL character (\\0); refusing",
                                            L->fname, kl, kc)
                               : qt_err_set(L->err, "%s: out of memory", L->fname);
                }
                if (!yaml_parser_parse(&L->p, &e)) {
                    free(key); free(anchor_copy); qt_yaml_free(n);
                    return parse_fail(L);
                }
            }
            struct qt_yaml *child = NULL;
            L->depth++;
            int rc = load_node(L, &e, &child);
            L->depth--;
            yaml_event_delete(&e);
            if (rc == QT_OK && grow(n)) rc = qt_err_set(L->err, "%s: out of memory", L->fname);
            if (rc != QT_OK) { free(key); qt_yaml_free(child); free(anchor_copy); qt_yaml_free(n); return rc; }
            if (is_map) n->keys[n->n] = key;
            n->items[n->n++] = child;
        }
        *out = n;
        int rc = add_anchor(L, (const yaml_char_t *)anchor_copy, n);
        free(anchor_copy);
        return rc;
    }
    default:
        return qt_err_set(L->err, "%s:%d:%d: unexpected YAML event", L->fname, line, col);
    }
}

int qt_yaml_load(const char *text, size_t len, const char *fname, struct qt_yaml **out,
                 qt_err *err) {
    struct loader L = {.fname = fname ? fname : "<yaml>", .err = err};
    *out = NULL;
    if (len > QT_YAML_MAX_BYTES)
        return qt_err_set(err, "%s: %zu bytes, more than the %zu a YAML document may have; refusing", L.fname, len,
                          QT_YAML_MAX_BYTES);
    if (!yaml_parser_initialize(&L.p)) return qt_err_set(err, "%s: out of memory", L.fname);
    yaml_parser_set_input_string(&L.p, (const unsigned char *)text, len);
    struct qt_yaml *root = NULL;
    int rc = QT_OK, in_doc = 0, done = 0;
    while (!done && rc == QT_OK) {
        yaml_event_t e;
        if (!yaml_parser_parse(&L.p, &e)) { rc = parse_fail(&L); break; }
        switch (e.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) rc = qt_err_set(err, "%s:%zu:%zu: more than one YAML document", L.fname,
                                      e.start_mark.line + 1, e.start_mark.column + 1);
            in_doc = 1;
            break;
        case YAML_DOCUMENT_END_EVENT: in_doc = 0; break;
        case YAML_STREAM_START_EVENT: break;
        default:
            if (!in_doc) break;
            rc = load_node(&L, &e, &root);
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&L.p);
    for (int i = 0; i < L.n_anchors; i++) free(L.anchors[i].name);
    free(L.anchors);
    if (rc != QT_OK) { qt_yaml_free(root); return rc; }
    if (!root || qt_yaml_is_null(root)) {
        qt_yaml_free(root);
        root = qt_yaml_map(0);
        if (!root) return qt_err_set(err, "%s: out of memory", L.fname);
    }
    *out = root;
    return QT_OK;
}

int qt_yaml_load_file(const char *path, struct qt_yaml **out, qt_err *err) {
    size_t len;
    char *text = qt_read_file_ex(path, &len, QT_YAML_MAX_BYTES, 0, err);
    if (!text) return QT_ERR;
    int rc = qt_yaml_load(text, len, path, out, err);
    free(text);
    return rc;
}

/* ---- dumping ---- */

struct sink { char *buf; size_t len, cap; int oom; };

static int sink_write(void *data, unsigned char *bytes, size_t size) {
    struct sink *s = data;
    if (s->len + size + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + size + 1) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) { s->oom = 1; return 0; }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, bytes, size);
    s->len += size;
    s->buf[s->len] = 0;
    return 1;
}

static int emit_scalar(yaml_emitter_t *em, const char *v, enum qt_yaml_style st) {
    yaml_scalar_style_t ys = YAML_PLAIN_SCALAR_STYLE;
    switch (st) {
    case QT_YS_SINGLE: ys = YAML_SINGLE_QUOTED_SCALAR_STYLE; break;
    case QT_YS_DOUBLE: ys = YAML_DOUBLE_QUOTED_SCALAR_STYLE; break;
    case QT_YS_LITERAL: ys = YAML_LITERAL_SCALAR_STYLE; break;
    case QT_YS_FOLDED: ys = YAML_FOLDED_SCALAR_STYLE; break;
    default: break;
    }
    yaml_event_t e;
    if (!yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, ys))
        return 0;
    return yaml_emitter_emit(em, &e);
}

static int emit_node(yaml_emitter_t *em, const struct qt_yaml *n) {
    yaml_event_t e;
    if (n->kind == QT_YAML_SCALAR) return emit_scalar(em, n->value, n->style);
    if (n->kind == QT_YAML_SEQ) {
        if (!yaml_sequence_start_event_initialize(&e, NULL, NULL, 1,
                n->flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &e))
            return 0;
        for (int i = 0; i < n->n; i++)
            if (!emit_node(em, n->items[i])) return 0;
        return yaml_sequence_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
    }
    if (!yaml_mapping_start_event_initialize(&e, NULL, NULL, 1,
            n->flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &e))
        return 0;
    for (int i = 0; i < n->n; i++)
        if (!emit_scalar(em, n->keys[i], QT_YS_PLAIN) || !emit_node(em, n->items[i])) return 0;
    return yaml_mapping_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
}

char *qt_yaml_dump(const struct qt_yaml *node, size_t *len, qt_err *err) {
    yaml_emitter_t em;
    struct sink s = {0};
    if (!yaml_emitter_initialize(&em)) { qt_err_set(err, "yaml: out of memory"); return NULL; }
    yaml_emitter_set_output(&em, sink_write, &s);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    yaml_event_t e;
    int ok = yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &e) &&
             yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1) && yaml_emitter_emit(&em, &e) &&
             emit_node(&em, node) &&
             yaml_document_end_event_initialize(&e, 1) && yaml_emitter_emit(&em, &e) &&
             yaml_stream_end_event_initialize(&e) && yaml_emitter_emit(&em, &e) &&
             yaml_emitter_flush(&em);
    if (!ok) {
        qt_err_set(err, "yaml: %s", s.oom ? "out of memory" : em.problem ? em.problem : "emit failed");
        yaml_emitter_delete(&em);
        free(s.buf);
        return NULL;
    }
    yaml_emitter_delete(&em);
    if (!s.buf) s.buf = strdup("{}\n");
    if (len) *len = s.buf ? strlen(s.buf) : 0;
    return s.buf;
}
