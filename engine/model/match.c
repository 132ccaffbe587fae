/* match.c — compressed-tensors matching with PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/match.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python regex -> PCRE2, where the two read the same text differently
 * (outside character classes unless said):
 *   \Z          end of string in Python      -> \z
 *   {,n} {,}    Python: 0..n / 0..inf; PCRE2 before 10.43: literal text -> {0,n} {0,}
 *   \uXXXX \UXXXXXXXX  code points (also in classes); PCRE2 refuses \u -> \x{...}
 * Everything else qtune meets in recipes ((?P<n>..), (?P=n), \A, \d,
 * classes) means the same in both. */
static char *py_to_pcre2(const char *re) {
    size_t n = strlen(re);
    char *out = malloc(2 * n + 16);  /* \uXXXX (6) -> \x{XXXX} (8); {, -> {0, */
    if (!out) return NULL;
    int in_class = 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char d = re[i + 1];
            size_t want = d == 'u' ? 4 : d == 'U' ? 8 : 0, k = 0;
            while (want && k < want && i + 2 + k < n && isxdigit((unsigned char)re[i + 2 + k])) k++;
            if (want && k == want) {
                j += (size_t)sprintf(out + j, "\\x{%.*s}", (int)want, re + i + 2);
                i += 1 + want;
                continue;
            }
            out[j++] = '\\';
            out[j++] = (!in_class && d == 'Z') ? 'z' : d;
            i++;
            continue;
        }
        if (c == '[' && !in_class) in_class = 1;
        else if (c == ']' && in_class) in_class = 0;
        out[j++] = c;
        if (!in_class && c == '{' && re[i + 1] == ',') {
            size_t k = i + 2;
            while (k < n && isdigit((unsigned char)re[k])) k++;
            if (k < n && re[k] == '}') out[j++] = '0';
        }
    }
    out[j] = 0;
    return out;
}

/* Offset of the last '(' left open in re (escapes and classes skipped);
 * dflt when none is found. */
static PCRE2_SIZE unclosed_paren(const char *re, PCRE2_SIZE dflt) {
    PCRE2_SIZE stack[64];
    int n = 0, in_class = 0;
    for (PCRE2_SIZE i = 0; re[i]; i++) {
        char c = re[i];
        if (c == '\\' && re[i + 1]) { i++; continue; }
        if (in_class) { if (c == ']') in_class = 0; continue; }
        if (c == '[') { in_class = 1; if (re[i + 1] == ']') i++; continue; }
        if (c == '(' && n < 64) stack[n++] = i;
        else if (c == ')' && n > 0) n--;
    }
    return n > 0 ? stack[n - 1] : dflt;
}

int qt_pattern_compile(const char *text, struct qt_pattern *p, qt_err *err) {
    memset(p, 0, sizeof *p);
    p->text = strdup(text ? text : "");
    if (!p->text) return qt_err_set(err, "out of memory");
    if (strncmp(p->text, "re:", 3) != 0) return QT_OK;
    p->is_regex = 1;
    char *re = py_to_pcre2(p->text + 3);
    if (!re) { qt_pattern_free(p); return qt_err_set(err, "out of memory"); }
    int code;
    PCRE2_SIZE off;
    /* Compile-time anchoring = re.match; it also keeps JIT usable. */
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_ANCHORED | PCRE2_UTF, &code, &off, NULL);
    free(re);
    if (!c) {
        /* PCRE2 reports a missing ')' at the end of the pattern; point at the
         * unclosed '(' instead, as Python does. */
        if (code == PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS) off = unclosed_paren(p->text + 3, off);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        qt_err_set(err, "pattern '%s': %s at offset %zu", text, (const char *)msg, (size_t)off);
        qt_pattern_free(p);
        return QT_ERR;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* best effort */
    p->code = c;
    p->md = pcre2_match_data_create_from_pattern(c, NULL);
    if (!p->md) { qt_pattern_free(p); return qt_err_set(err, "out of memory"); }
    return QT_OK;
}

void qt_pattern_free(struct qt_pattern *p) {
    if (!p) return;
    if (p->md) pcre2_match_data_free(p->md);
    if (p->code) pcre2_code_free(p->code);
    free(p->text);
    memset(p, 0, sizeof *p);
}

int qt_class_in(const char *name, const struct qt_mclass *cls) {
    for (int i = 0; cls && i < cls->n; i++)
        if (!strcmp(cls->name[i], name) || (!strcmp(cls->name[i], "LinearBase") && !strcmp(name, "Linear")))
            return 1;
    return 0;
}

int qt_pattern_is_class(const char *t) {
    return t && isupper((unsigned char)t[0]) && !strchr(t, '.');
}

enum qt_match_kind qt_pattern_match(const struct qt_pattern *p, const char *module,
                                    const struct qt_mclass *cls, size_t *end) {
    if (p->is_regex) {
        if (!p->code) return QT_MATCH_NONE;
        int rc = pcre2_match(p->code, (PCRE2_SPTR)module, PCRE2_ZERO_TERMINATED, 0, 0, p->md, NULL);
        if (rc < 0) return QT_MATCH_NONE;
        if (end) *end = (size_t)pcre2_get_ovector_pointer(p->md)[1];
        return QT_MATCH_REGEX;
    }
    if (!strcmp(p->text, module)) return QT_MATCH_EXACT;
    if (qt_class_in(p->text, cls)) return QT_MATCH_CLASS;
    return QT_MATCH_NONE;
}

char *qt_match_module(const struct qt_tensor *t, char *buf, size_t n) {
    snprintf(buf, n, "%s", t->name);
    size_t l = strlen(buf);
    static const char *const sufs[] = {".weight", ".bias", ".e_score_correction_bias"};
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
        size_t k = strlen(sufs[i]);
        if (l > k && !strcmp(buf + l - k, sufs[i])) { buf[l - k] = 0; break; }
    }
    return buf;
}

/* ---- name filters */

struct qt_name_filter {
    pcre2_code *re;
    pcre2_match_data *md;
};

int qt_name_filter_open(const char *filter, struct qt_name_filter **out, qt_err *err) {
    *out = NULL;
    if (!filter) return QT_OK;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)filter, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return qt_err_set(err, "%s at offset %d", (char *)msg, (int)eo);
    }
    struct qt_name_filter *f = malloc(sizeof *f);
    if (!f) {
        pcre2_code_free(re);
        return qt_err_set(err, "out of memory");
    }
    f->re = re;
    f->md = pcre2_match_data_create_from_pattern(re, NULL);
    *out = f;
    return QT_OK;
}

int qt_name_filter_match(const struct qt_name_filter *f, const char *name) {
    return !f || pcre2_match(f->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL) >= 0;
}

void qt_name_filter_free(struct qt_name_filter *f) {
    if (!f) return;
    if (f->md) pcre2_match_data_free(f->md);
    pcre2_code_free(f->re);
    free(f);
}
