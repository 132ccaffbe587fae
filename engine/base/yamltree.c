/* yamltree.c — libyaml event stream <-> struct qt_yaml tree. */
#include "base/yamltree.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- comments ---- */

/* One comment line on a line of its own.  dcol is its column relative to
 * the entry it belongs to (absolute for the document's own comments), so
 * that it keeps its place when the entry moves; src orders comments that
 * land on the same output line as they were in the source. */
struct qt_ycline {
    char *text;               /* from '#' to the end of the line, trailing blanks cut */
    int dcol;
    int blank;                /* a blank line preceded it */
    int src;                  /* source line */
};

struct qt_ycomments {
    int n_before, n_after;
    struct qt_ycline *before; /* (n_before) lines just above the entry */
    struct qt_ycline *after;  /* (n_after) lines below the entry's subtree, indented into it */
    char *trail;              /* comment(s) at the end of the entry's line, NULL when none */
};

static void cm_free(struct qt_ycomments *c) {
    if (!c) return;
    for (int i = 0; i < c->n_before; i++) free(c->before[i].text);
    for (int i = 0; i < c->n_after; i++) free(c->after[i].text);
    free(c->before);
    free(c->after);
    free(c->trail);
    free(c);
}

static int cl_copy(struct qt_ycline **dst, const struct qt_ycline *src, int n) {
    *dst = NULL;
    if (!n) return QT_OK;
    *dst = calloc((size_t)n, sizeof **dst);
    if (!*dst) return QT_ERR;
    for (int i = 0; i < n; i++) {
        (*dst)[i] = src[i];
        if (!((*dst)[i].text = strdup(src[i].text))) return QT_ERR;
    }
    return QT_OK;
}

/* A deep copy; NULL for NULL or when out of memory (*oom set). */
static struct qt_ycomments *cm_copy(const struct qt_ycomments *c, int *oom) {
    if (!c) return NULL;
    struct qt_ycomments *d = calloc(1, sizeof *d);
    if (!d) { *oom = 1; return NULL; }
    d->n_before = c->n_before;
    d->n_after = c->n_after;
    if (cl_copy(&d->before, c->before, c->n_before) || cl_copy(&d->after, c->after, c->n_after) ||
        (c->trail && !(d->trail = strdup(c->trail)))) {
        cm_free(d);
        *oom = 1;
        return NULL;
    }
    return d;
}

/* Appends a line to a comment list. */
static int cl_push(struct qt_ycline **v, int *n, const char *text, size_t len, int dcol, int blank, int src) {
    struct qt_ycline *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv) return QT_ERR;
    *v = nv;
    char *t = strndup(text, len);
    if (!t) return QT_ERR;
    nv[*n] = (struct qt_ycline){t, dcol, blank, src};
    (*n)++;
    return QT_OK;
}

static struct qt_ycomments *cm_of(struct qt_yaml *n) {
    if (!n->cm) n->cm = calloc(1, sizeof *n->cm);
    return n->cm;
}

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
    cm_free(n->cm);
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
    c->kline = n->kline;
    c->kcol = n->kcol;
    c->alias = n->alias;
    int oom = 0;
    c->cm = cm_copy(n->cm, &oom);
    if (oom) goto oom;
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
        /* the entry stays: so do its comments */
        if (!v->cm) {
            v->cm = m->items[i]->cm;
            m->items[i]->cm = NULL;
        }
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

/* Where a scalar (key or value) lies in the source, libyaml marks (0-based
 * line, column in characters): a '#' inside one starts no comment. */
struct span { int l0, c0, l1, c1, quoted; };

struct loader {
    yaml_parser_t p;
    const char *fname;
    struct span *spans;       /* (n_spans) in document order */
    int n_spans, cap_spans;
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

static int add_span(struct loader *L, const yaml_event_t *e) {
    if (L->n_spans == L->cap_spans) {
        int cap = L->cap_spans ? 2 * L->cap_spans : 64;
        struct span *v = realloc(L->spans, (size_t)cap * sizeof *v);
        if (!v) return qt_err_set(L->err, "%s: out of memory", L->fname);
        L->spans = v;
        L->cap_spans = cap;
    }
    yaml_scalar_style_t st = e->data.scalar.style;
    L->spans[L->n_spans++] = (struct span){(int)e->start_mark.line, (int)e->start_mark.column,
                                           (int)e->end_mark.line, (int)e->end_mark.column,
                                           st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE};
    return QT_OK;
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
                /* the copy's comments stay with the anchored original */
                cm_free(n->cm);
                n->cm = NULL;
                n->alias = 1;
                n->kline = line;
                n->kcol = col;
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
        if (budget(L, 1, 0, line, col) || add_span(L, ev)) return QT_ERR;
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
        n->line = n->kline = line;
        n->col = n->kcol = col;
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
        n->line = n->kline = line;
        n->col = n->kcol = col;
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
            int klc[2] = {0, 0};
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
                klc[0] = kl;
                klc[1] = kc;
                if (add_span(L, &e)) { yaml_event_delete(&e); free(anchor_copy); qt_yaml_free(n); return QT_ERR; }
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
            if (is_map) {
                n->keys[n->n] = key;
                child->kline = klc[0];   /* the entry starts at its key */
                child->kcol = klc[1];
            }
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

static int attach_comments(const char *text, size_t len, const struct span *sp, int n_sp, struct qt_yaml *root);

/* Parses text; with comments, also finds the comments and attaches them to
 * the entries of the tree (off for the re-read of our own output). */
static int load_text(const char *text, size_t len, const char *fname, struct qt_yaml **out, qt_err *err,
                     int comments, struct span **spans, int *n_spans) {
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
    if (rc != QT_OK) { qt_yaml_free(root); free(L.spans); return rc; }
    if (!root || qt_yaml_is_null(root)) {
        qt_yaml_free(root);
        root = qt_yaml_map(0);
        if (!root) { free(L.spans); return qt_err_set(err, "%s: out of memory", L.fname); }
    }
    if (comments && attach_comments(text, len, L.spans, L.n_spans, root) != QT_OK) {
        free(L.spans);
        qt_yaml_free(root);
        return qt_err_set(err, "%s: out of memory", L.fname);
    }
    if (spans) {
        *spans = L.spans;
        *n_spans = L.n_spans;
    } else {
        free(L.spans);
    }
    *out = root;
    return QT_OK;
}

int qt_yaml_load(const char *text, size_t len, const char *fname, struct qt_yaml **out, qt_err *err) {
    return load_text(text, len, fname, out, err, 1, NULL, NULL);
}

/* ---- comments in ---- */

/* Length of the line break at text[i], 0 when none: libyaml's breaks are
 * \r\n, \r, \n, NEL (C2 85), LS and PS (E2 80 A8/A9). */
static size_t brk(const char *text, size_t len, size_t i) {
    const unsigned char *u = (const unsigned char *)text;
    if (i >= len) return 0;
    if (u[i] == '\n') return 1;
    if (u[i] == '\r') return i + 1 < len && u[i + 1] == '\n' ? 2 : 1;
    if (u[i] == 0xC2 && i + 1 < len && u[i + 1] == 0x85) return 2;
    if (u[i] == 0xE2 && i + 2 < len && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) return 3;
    return 0;
}

/* Byte offsets of the starts of text's lines, as libyaml counts lines. */
struct lines { size_t *start; int n; };

static int lines_of(const char *text, size_t len, struct lines *ls) {
    int n = 1;
    for (size_t i = 0; i < len;) {
        size_t b = brk(text, len, i);
        n += b > 0;
        i += b ? b : 1;
    }
    ls->start = malloc((size_t)(n + 1) * sizeof *ls->start);
    if (!ls->start) return QT_ERR;
    ls->n = 0;
    ls->start[ls->n++] = 0;
    for (size_t i = 0; i < len;) {
        size_t b = brk(text, len, i);
        i += b ? b : 1;
        if (b) ls->start[ls->n++] = i;
    }
    ls->start[ls->n] = len + 1;   /* sentinel: one past the end */
    return QT_OK;
}

/* Byte offset of a libyaml mark: 0-based line, column in characters. */
static size_t mark_off(const char *text, size_t len, const struct lines *ls, int line, int col) {
    if (line >= ls->n) return len;
    size_t i = ls->start[line];
    for (int c = 0; c < col && i < len && !brk(text, len, i); c++) {
        i++;
        while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

static int line_of(const struct lines *ls, size_t off) {
    int lo = 0, hi = ls->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ls->start[mid] <= off) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static int chars_between(const char *text, size_t a, size_t b) {
    int n = 0;
    for (size_t i = a; i < b; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

static int blank_line(const char *text, size_t len, const struct lines *ls, int l) {
    if (l < 0 || l >= ls->n) return 0;
    for (size_t i = ls->start[l]; i < len && !brk(text, len, i); i++)
        if (text[i] != ' ' && text[i] != '\t') return 0;
    return 1;
}

/* An entry of the tree in document order: a map value (at its key) or a
 * sequence item; parent is the index of the enclosing entry, -1 for the
 * document's top level. */
struct ent { struct qt_yaml *n; int line, col, parent; };
struct ents { struct ent *v; int n, cap; };

static int ents_collect(struct qt_yaml *n, int parent, struct ents *E) {
    for (int i = 0; i < n->n; i++) {
        struct qt_yaml *c = n->items[i];
        if (E->n == E->cap) {
            int cap = E->cap ? 2 * E->cap : 64;
            struct ent *v = realloc(E->v, (size_t)cap * sizeof *v);
            if (!v) return QT_ERR;
            E->v = v;
            E->cap = cap;
        }
        int me = E->n++;
        E->v[me] = (struct ent){c, c->kline, c->kcol, parent};
        /* an alias copy's inner positions are the anchor's: not entries */
        if (!c->alias && ents_collect(c, me, E)) return QT_ERR;
    }
    return QT_OK;
}

/* Gives the comment t (tl bytes) on source line L (1-based), column C
 * (1-based), to its entry: a comment after text on its line trails the
 * outermost entry starting on that line (the key of `ignore: [a, b]  # c`,
 * not b: the entry that an edit of the list keeps), or the last entry
 * before it; one on a line of its own goes before the next entry unless it
 * is indented deeper than that entry, then after the innermost entry above
 * that it is indented into; the document keeps what comes before every
 * entry or is indented into none. */
static int attach_one(struct qt_yaml *root, const struct ents *E, const char *t, size_t tl, int L, int C,
                      int full, int blank) {
    int p = -1;
    for (int lo = 0, hi = E->n - 1; lo <= hi;) {   /* last entry with line < L */
        int mid = (lo + hi) / 2;
        if (E->v[mid].line < L) { p = mid; lo = mid + 1; }
        else hi = mid - 1;
    }
    if (!full && p + 1 < E->n && E->v[p + 1].line == L) p++;
    /* inside a flow collection, or after one that ended on an earlier line
     * (written on one line again): the comment is the whole collection's,
     * after it */
    int in_flow = 0;
    for (int q = p; q >= 0; q = E->v[q].parent)
        if (E->v[q].parent >= 0 && E->v[E->v[q].parent].n->flow) { p = E->v[q].parent; in_flow = 1; }
        else if (E->v[q].parent < 0 && root->flow) in_flow = 2;
    if (in_flow == 2) {   /* the document is one flow collection */
        struct qt_ycomments *rc = cm_of(root);
        return rc ? cl_push(&rc->after, &rc->n_after, t, tl, 0, blank, L) : QT_ERR;
    }
    if (in_flow && full) {   /* indented as it was from the collection's entry */
        struct qt_ycomments *fc = cm_of(E->v[p].n);
        int d = C - E->v[p].col;
        return fc ? cl_push(&fc->after, &fc->n_after, t, tl, d < 0 ? 0 : d, blank, L) : QT_ERR;
    }
    struct qt_ycomments *cm;
    if (!full && p >= 0) {
        struct qt_yaml *n = E->v[p].n;
        if (!(cm = cm_of(n))) return QT_ERR;
        if (!cm->trail) {
            return (cm->trail = strndup(t, tl)) ? QT_OK : QT_ERR;
        }
        size_t ol = strlen(cm->trail);
        char *j = realloc(cm->trail, ol + 2 + tl + 1);
        if (!j) return QT_ERR;
        memcpy(j + ol, "  ", 2);
        memcpy(j + ol + 2, t, tl);
        j[ol + 2 + tl] = 0;
        cm->trail = j;
        return QT_OK;
    }
    if (p < 0) {   /* before every entry (a trail here: on a `---` line) */
        if (!(cm = cm_of(root))) return QT_ERR;
        return cl_push(&cm->before, &cm->n_before, t, tl, full ? C - 1 : 0, blank, L);
    }
    int nx = p + 1;
    /* the next entry inside a flow collection (written on one line
     * again): the comment goes before the whole collection's entry */
    while (nx < E->n && E->v[nx].parent >= 0 && E->v[E->v[nx].parent].n->flow) nx = E->v[nx].parent;
    if (nx < E->n && C <= E->v[nx].col) {
        if (!(cm = cm_of(E->v[nx].n))) return QT_ERR;
        return cl_push(&cm->before, &cm->n_before, t, tl, C - E->v[nx].col, blank, L);
    }
    int a = p;
    while (a >= 0 && E->v[a].col > C) a = E->v[a].parent;
    if (a < 0) {
        if (!(cm = cm_of(root))) return QT_ERR;
        return cl_push(&cm->after, &cm->n_after, t, tl, C - 1, blank, L);
    }
    if (!(cm = cm_of(E->v[a].n))) return QT_ERR;
    return cl_push(&cm->after, &cm->n_after, t, tl, C - E->v[a].col, blank, L);
}

/* Finds every comment of text ('#' at a line's start or after a blank,
 * outside every scalar) and attaches it (attach_one). */
static int attach_comments(const char *text, size_t len, const struct span *sp, int n_sp, struct qt_yaml *root) {
    struct lines ls;
    struct ents E = {0};
    size_t *s0 = NULL, *s1 = NULL;
    int rc = QT_ERR;
    if (lines_of(text, len, &ls)) return QT_ERR;
    if (!(s0 = malloc((size_t)(n_sp + 1) * sizeof *s0)) || !(s1 = malloc((size_t)(n_sp + 1) * sizeof *s1)))
        goto out;
    for (int k = 0; k < n_sp; k++) {
        s0[k] = mark_off(text, len, &ls, sp[k].l0, sp[k].c0);
        s1[k] = mark_off(text, len, &ls, sp[k].l1, sp[k].c1);
    }
    if (ents_collect(root, -1, &E)) goto out;
    int k = 0;
    for (size_t i = 0; i < len;) {
        while (k < n_sp && s1[k] <= i) k++;
        if (k < n_sp && s0[k] <= i) { i = s1[k]; continue; }
        char c = text[i];
        if (c != '#' || (i > 0 && !strchr(" \t\n\r", text[i - 1]))) { i++; continue; }
        size_t e = i;
        while (e < len && !brk(text, len, e)) e++;
        size_t te = e;
        while (te > i && (text[te - 1] == ' ' || text[te - 1] == '\t')) te--;
        int l = line_of(&ls, i);
        int full = 1;
        for (size_t j = ls.start[l]; j < i; j++)
            if (text[j] != ' ' && text[j] != '\t') { full = 0; break; }
        int col = chars_between(text, ls.start[l], i) + 1;
        if (attach_one(root, &E, text + i, te - i, l + 1, col, full, full && blank_line(text, len, &ls, l - 1)))
            goto out;
        i = e;
    }
    rc = QT_OK;
out:
    free(ls.start);
    free(E.v);
    free(s0);
    free(s1);
    return rc;
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

/* in_flow: n is inside a flow collection, where libyaml writes an empty
 * plain scalar (a null) as '' (a string): it is written as null there. */
static int emit_node(yaml_emitter_t *em, const struct qt_yaml *n, int in_flow) {
    yaml_event_t e;
    if (n->kind == QT_YAML_SCALAR)
        return emit_scalar(em, in_flow && n->style == QT_YS_PLAIN && !n->value[0] ? "null" : n->value, n->style);
    if (n->kind == QT_YAML_SEQ) {
        if (!yaml_sequence_start_event_initialize(&e, NULL, NULL, 1,
                n->flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &e))
            return 0;
        for (int i = 0; i < n->n; i++)
            if (!emit_node(em, n->items[i], in_flow || n->flow)) return 0;
        return yaml_sequence_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
    }
    if (!yaml_mapping_start_event_initialize(&e, NULL, NULL, 1,
            n->flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &e))
        return 0;
    for (int i = 0; i < n->n; i++)
        if (!emit_scalar(em, n->keys[i], QT_YS_PLAIN) || !emit_node(em, n->items[i], in_flow || n->flow)) return 0;
    return yaml_mapping_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
}

/* ---- comments out ---- */

int qt_yaml_comment_count(const struct qt_yaml *n) {
    if (!n) return 0;
    int k = n->cm ? n->cm->n_before + n->cm->n_after + (n->cm->trail != NULL) : 0;
    for (int i = 0; i < n->n; i++) k += qt_yaml_comment_count(n->items[i]);
    return k;
}

void qt_yaml_drop_lead_comments(struct qt_yaml *root) {
    if (!root || !root->cm) return;
    for (int i = 0; i < root->cm->n_before; i++) free(root->cm->before[i].text);
    free(root->cm->before);
    root->cm->before = NULL;
    root->cm->n_before = 0;
}

/* An entry of the tree paired with the same entry of the re-read output:
 * out is its output line (1-based), col its output column, end the index
 * of the first entry after its subtree. */
struct pent { const struct qt_yaml *n; int out, col, end; };
struct pents { struct pent *v; int n, cap; };

/* Walks the tree (a) and its re-read output (b) together; 0 when their
 * shapes differ (then the comments are not written). */
static int pair_walk(const struct qt_yaml *a, const struct qt_yaml *b, struct pents *P, int *oom) {
    if (a->kind != b->kind || a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        if (P->n == P->cap) {
            int cap = P->cap ? 2 * P->cap : 64;
            struct pent *v = realloc(P->v, (size_t)cap * sizeof *v);
            if (!v) { *oom = 1; return 0; }
            P->v = v;
            P->cap = cap;
        }
        int me = P->n++;
        P->v[me] = (struct pent){a->items[i], b->items[i]->kline, b->items[i]->kcol, 0};
        if (!pair_walk(a->items[i], b->items[i], P, oom)) return 0;
        P->v[me].end = P->n;
    }
    return 1;
}

/* One comment line to write before output line `at` (0-based; the line
 * count for the end). */
struct ins { int at, src, seq, indent, blank; const char *text; };

static int ins_cmp(const void *x, const void *y) {
    const struct ins *a = x, *b = y;
    if (a->at != b->at) return a->at < b->at ? -1 : 1;
    if (a->src != b->src) return a->src < b->src ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int ins_add(struct ins **v, int *n, int *cap, int at, int indent, const struct qt_ycline *c) {
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 32;
        struct ins *nv = realloc(*v, (size_t)nc * sizeof *nv);
        if (!nv) return QT_ERR;
        *v = nv;
        *cap = nc;
    }
    (*v)[*n] = (struct ins){at, c->src, *n, indent < 0 ? 0 : indent, c->blank, c->text};
    (*n)++;
    return QT_OK;
}

/* The libyaml output y of tree t with t's comments put back (weave): the
 * output is read again and walked beside t, which gives each entry's line
 * and column in y.  Returns a new buffer, y itself when the shapes differ,
 * NULL when out of memory. */
static char *weave(const struct qt_yaml *t, char *y) {
    size_t len = strlen(y);
    struct qt_yaml *b = NULL;
    qt_err e2;
    struct span *sp = NULL;
    int nsp = 0;
    if (load_text(y, len, "<dump>", &b, &e2, 0, &sp, &nsp) != QT_OK) return y;
    int *cap = NULL;              /* (nl+1) the most indent a comment before the line may have, -1: any */
    unsigned char *mid = NULL;    /* (nl) bit 1: the line starts inside a scalar; 2: its break is in one */
    struct pents P = {0};
    struct lines ls = {0};
    struct ins *iv = NULL;
    char **trail = NULL;          /* (nl) per output line, malloc'd */
    int ni = 0, ci = 0, oom = 0, nl = 0;
    char *out = NULL;
    struct sink s = {0};
    if (!pair_walk(t, b, &P, &oom)) { out = oom ? NULL : y; goto done; }
    if (lines_of(y, len, &ls)) goto done;
    nl = ls.n - (ls.start[ls.n - 1] == len);   /* lines with text */
    if (!(trail = calloc((size_t)nl + 1, sizeof *trail)) || !(mid = calloc((size_t)nl + 1, 1))) goto done;
    /* a quoted scalar over several lines takes no comment inside it:
     * insertions and trails move below it (a block scalar's header line
     * takes a trail, and no entry starts inside its text) */
    for (int k = 0; k < nsp; k++)
        for (int l = sp[k].l0; sp[k].quoted && l < sp[k].l1 && l < nl; l++) {
            mid[l] |= 2;
            mid[l + 1] |= 1;
        }
    /* a comment line right after a block scalar's text, indented as deep
     * as that text, would read back as more of it: its indent stays below
     * the text's (below the header line's when the text is blank) */
    if (!(cap = malloc(((size_t)nl + 1) * sizeof *cap))) goto done;
    for (int l = 0; l <= nl; l++) cap[l] = -1;
    for (int k = 0; k < nsp; k++) {
        if (sp[k].quoted || sp[k].l1 <= sp[k].l0 || sp[k].l0 >= nl) continue;
        int hi = 0, tc = -1;
        for (size_t j = ls.start[sp[k].l0]; j < len && y[j] == ' '; j++) hi++;
        for (int l = sp[k].l0 + 1; l < nl && l <= sp[k].l1 && tc < 0; l++) {
            int n = 0;
            size_t j = ls.start[l];
            while (j < len && y[j] == ' ') j++, n++;
            if (j < len && !brk(y, len, j)) tc = n;
        }
        int m = tc > 0 ? tc - 1 : hi;
        int last = sp[k].l1 + (sp[k].c1 > 0);
        for (int l = sp[k].l0 + 1; l <= last && l <= nl; l++)
            if (cap[l] < 0 || m < cap[l]) cap[l] = m;
    }
    const struct qt_ycomments *rc = t->cm;
    for (int k = 0; rc && k < rc->n_before; k++)
        if (ins_add(&iv, &ni, &ci, 0, rc->before[k].dcol, &rc->before[k])) goto done;
    for (int k = 0; rc && k < rc->n_after; k++)
        if (ins_add(&iv, &ni, &ci, nl, rc->after[k].dcol, &rc->after[k])) goto done;
    for (int i = 0; i < P.n; i++) {
        const struct qt_ycomments *c = P.v[i].n->cm;
        if (!c) continue;
        int line0 = P.v[i].out - 1, col0 = P.v[i].col - 1;
        for (int k = 0; k < c->n_before; k++)
            if (ins_add(&iv, &ni, &ci, line0, col0 + c->before[k].dcol, &c->before[k])) goto done;
        int at = P.v[i].end < P.n ? P.v[P.v[i].end].out - 1 : nl;
        if (at < line0 + 1) at = line0 + 1;
        while (at < nl && (mid[at] & 1)) at++;
        for (int k = 0; k < c->n_after; k++)
            if (ins_add(&iv, &ni, &ci, at, col0 + c->after[k].dcol, &c->after[k])) goto done;
        while (line0 >= 0 && line0 < nl && (mid[line0] & 2)) line0++;
        if (c->trail && line0 >= 0 && line0 < nl) {
            /* several entries on one line (a flow collection): their
             * comments follow one another, in document order */
            size_t ol = trail[line0] ? strlen(trail[line0]) : 0, tl = strlen(c->trail);
            char *j = realloc(trail[line0], ol + 2 + tl + 1);
            if (!j) goto done;
            if (ol) memcpy(j + ol, "  ", 2), ol += 2;
            memcpy(j + ol, c->trail, tl + 1);
            trail[line0] = j;
        }
    }
    if (ni) qsort(iv, (size_t)ni, sizeof *iv, ins_cmp);
    int k = 0, last_blank = 1;
    for (int l = 0; l <= nl; l++) {
        for (; k < ni && iv[k].at <= l; k++) {
            if (iv[k].blank && !last_blank && !sink_write(&s, (unsigned char *)"\n", 1)) goto done;
            int ind = iv[k].indent;
            if (cap[l] >= 0 && ind > cap[l]) ind = cap[l];
            for (int c = 0; c < ind; c++)
                if (!sink_write(&s, (unsigned char *)" ", 1)) goto done;
            if (!sink_write(&s, (unsigned char *)iv[k].text, strlen(iv[k].text)) ||
                !sink_write(&s, (unsigned char *)"\n", 1))
                goto done;
            last_blank = 0;
        }
        if (l == nl) break;
        size_t a = ls.start[l], z = a;
        while (z < len && !brk(y, len, z)) z++;
        size_t zb = z + brk(y, len, z);   /* the line's own break, written as it was */
        if (!sink_write(&s, (unsigned char *)y + a, z - a)) goto done;
        if (trail[l] && (!sink_write(&s, (unsigned char *)"  ", 2) ||
                         !sink_write(&s, (unsigned char *)trail[l], strlen(trail[l]))))
            goto done;
        if (zb > z ? !sink_write(&s, (unsigned char *)y + z, zb - z) : !sink_write(&s, (unsigned char *)"\n", 1))
            goto done;
        last_blank = z == a;
    }
    out = s.buf ? s.buf : strdup("");
    s.buf = NULL;
done:
    free(s.buf);
    free(P.v);
    free(ls.start);
    free(iv);
    for (int l = 0; trail && l < nl; l++) free(trail[l]);
    free(trail);
    free(mid);
    free(cap);
    free(sp);
    qt_yaml_free(b);
    return out;
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
             emit_node(&em, node, 0) &&
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
    if (s.buf && qt_yaml_comment_count(node)) {
        char *w = weave(node, s.buf);
        if (w != s.buf) free(s.buf);
        s.buf = w;
    }
    if (!s.buf) { qt_err_set(err, "yaml: out of memory"); return NULL; }
    if (len) *len = strlen(s.buf);
    return s.buf;
}
