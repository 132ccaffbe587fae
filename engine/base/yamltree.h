/* yamltree.h — a generic YAML node tree on top of libyaml, for recipes and the GPU
 * catalog.  Loading keeps every node (unknown keys included), the scalar
 * quoting style and the flow/block style of collections, so that a document
 * loaded and saved again says the same thing.  Comments are kept too: each
 * one belongs to an entry of the tree (a map value with its key, a sequence
 * item, or the document) and is written back beside that entry, so that an
 * edit which keeps the entry keeps its comments and one that deletes the
 * entry drops them. */
#ifndef QT_YAMLTREE_H
#define QT_YAMLTREE_H
#include <stddef.h>

#include "base/qt.h"

enum qt_yaml_kind { QT_YAML_SCALAR, QT_YAML_SEQ, QT_YAML_MAP };

/* Scalar style as written: plain, 'single', "double", | literal, > folded. */
enum qt_yaml_style { QT_YS_PLAIN, QT_YS_SINGLE, QT_YS_DOUBLE, QT_YS_LITERAL, QT_YS_FOLDED };

struct qt_yaml {
    enum qt_yaml_kind kind;
    char *value;              /* scalar text ("" for an empty value), NULL otherwise */
    enum qt_yaml_style style; /* scalars */
    int flow;                 /* collections: 1 when written [a, b] / {k: v} */
    int n, cap;
    struct qt_yaml **items;   /* (n) sequence items, or map values */
    char **keys;              /* (n) map keys (scalar keys only), NULL for sequences */
    int line, col;            /* 1-based position in the source, 0 for built nodes */
    int kline, kcol;          /* position of the entry: a map value's key, else line/col */
    int alias;                /* 1 on the root of a copy made for an alias */
    struct qt_ycomments *cm;  /* comments of this entry (yamltree.c), NULL when none */
};

/* Bounds on what a document may make the loader build (a 520-byte document
 * of nested aliases would otherwise expand to gigabytes): bytes of text,
 * nesting depth, nodes in all, and nodes copied by aliases. */
#define QT_YAML_MAX_BYTES ((size_t)64 << 20)
#define QT_YAML_MAX_DEPTH 256
#define QT_YAML_MAX_NODES 2000000
#define QT_YAML_MAX_ALIAS_NODES 100000

/* Parses one YAML document from text (len bytes).  fname names the source in
 * errors: "<fname>:<line>:<col>: <problem>".  An empty document gives an empty
 * map.  Aliases are expanded by copying.  Refuses, with a message naming
 * the limit, a document past the QT_YAML_MAX_* bounds and a scalar holding
 * a NUL ("\0" in a double-quoted string: never silently cut).  Caller
 * frees *out with qt_yaml_free. */
int qt_yaml_load(const char *text, size_t len, const char *fname, struct qt_yaml **out,
                 qt_err *err);
/* Reads and parses a file. */
int qt_yaml_load_file(const char *path, struct qt_yaml **out, qt_err *err);

/* Emits node as a YAML document (block style unless a collection is flow)
 * into a malloc'd NUL-terminated buffer; *len may be NULL.  Caller frees.
 * Comments go back beside their entries: the ones on lines of their own
 * before the entry's line (indented as they were relative to the entry),
 * the ones that closed a more indented block after the entry's lines, the
 * ones at the end of a line at the end of the entry's line, the document's
 * first and last ones first and last. */
char *qt_yaml_dump(const struct qt_yaml *node, size_t *len, qt_err *err);

void qt_yaml_free(struct qt_yaml *n);
/* Drops the comments of the document's leading block (those before its
 * first entry), for a caller that writes a header of its own. */
void qt_yaml_drop_lead_comments(struct qt_yaml *root);
/* Number of comment lines kept in the tree under n (n included). */
int qt_yaml_comment_count(const struct qt_yaml *n);
struct qt_yaml *qt_yaml_copy(const struct qt_yaml *n);

/* Builders.  Return NULL only when out of memory. */
struct qt_yaml *qt_yaml_scalar(const char *v);
struct qt_yaml *qt_yaml_seq(int flow);
struct qt_yaml *qt_yaml_map(int flow);

/* Map access: value of key or NULL (also NULL when m is not a map). */
struct qt_yaml *qt_yaml_get(const struct qt_yaml *m, const char *key);
/* Index of key in map m, -1 when absent. */
int qt_yaml_find(const struct qt_yaml *m, const char *key);
/* Sets key to v (takes ownership of v): replaces an existing value in place,
 * keeping the key's position and its comments (when v has none), or
 * appends.  Returns QT_OK or QT_ERR (OOM). */
int qt_yaml_set(struct qt_yaml *m, const char *key, struct qt_yaml *v);
/* Removes key from map m (frees its value); 1 if it was there. */
int qt_yaml_del(struct qt_yaml *m, const char *key);
/* Appends v to sequence s (takes ownership). */
int qt_yaml_push(struct qt_yaml *s, struct qt_yaml *v);
/* Removes item i of sequence s (frees it). */
void qt_yaml_remove(struct qt_yaml *s, int i);

/* Scalar helpers: the text of a scalar node, or NULL. */
const char *qt_yaml_str(const struct qt_yaml *n);
/* Parses a scalar as a number / boolean; returns 1 on success. */
int qt_yaml_num(const struct qt_yaml *n, double *v);
int qt_yaml_bool(const struct qt_yaml *n, int *v);
/* 1 when n is a null scalar (~, null, empty plain). */
int qt_yaml_is_null(const struct qt_yaml *n);

#endif
