/* cmd_ls.c — `qtune ls [--json]`: sessions with their model, recipe,
 * daemon and active jobs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "daemon/client.h"
#include "recipe/recipe.h"
#include "daemon/proto.h"
#include "sessions/session.h"

static const char usage[] = "ls [--json]";

/* What the recipe does, in a few words: the algorithm of each modifier that
 * quantizes and the scheme of its first group (the preset name when one
 * matches), "+N" for further groups — "RTN W4A16", "AWQ W4A16 +2",
 * "GPTQ W8A8".  "-" for an empty recipe; a recipe qtune cannot parse shows
 * its first line that is not a comment. */
static void recipe_glance(const char *t, char *buf, size_t n) {
    snprintf(buf, n, "-");
    if (!t) return;
    const char *p = t;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) return;
    struct qt_recipe *r = NULL;
    qt_err err;
    if (qt_recipe_parse(t, strlen(t), "recipe.yaml", &r, &err) != QT_OK) {
        while (t && *t) {
            const char *e = strchr(t, '\n');
            size_t len = e ? (size_t)(e - t) : strlen(t);
            const char *q = t;
            while (q < t + len && (*q == ' ' || *q == '\t')) q++;
            if (q < t + len && *q != '#') { snprintf(buf, n, "%.*s", (int)(t + len - q), q); return; }
            t = e ? e + 1 : NULL;
        }
        return;
    }
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < r->n_mods && len + 1 < n; i++) {
        const struct qt_modifier *m = &r->mods[i];
        if (!m->quantizes && m->algo != QT_ALGO_SMOOTHQUANT && m->algo != QT_ALGO_SPARSEGPT && m->algo != QT_ALGO_AWQ) continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", qt_algo_name(m->algo));
        if (len + 1 >= n) break;
        if (m->n_groups > 0) {
            const struct qt_rgroup *g = &r->groups[m->first_group];
            const char *preset = qt_scheme_preset_name(&g->s);
            len += (size_t)snprintf(buf + len, n - len, " %s", preset ? preset : g->scheme);
            if (len + 1 < n && m->n_groups > 1) len += (size_t)snprintf(buf + len, n - len, " +%d", m->n_groups - 1);
        }
    }
    if (!buf[0]) snprintf(buf, n, "no quantization");
    qt_recipe_free(r);
}

static cJSON *session_json(const char *name, qt_err *err) {
    struct qt_session *s;
    if (qt_session_open(name, 0, &s, err)) return NULL;   /* read-only: ls never writes */
    if (s->note[0]) fprintf(stderr, "qtune: %s\n", s->note);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    if (s->model) cJSON_AddStringToObject(o, "model", s->model);
    else cJSON_AddNullToObject(o, "model");
    cJSON_AddNumberToObject(o, "recipe_version", s->hist_cur);
    char *txt = qt_session_recipe(s, err);
    char glance[256];
    recipe_glance(txt, glance, sizeof glance);
    cJSON_AddStringToObject(o, "recipe", glance);
    free(txt);
    char sock[PATH_MAX];
    qt_err e2;
    int up = qt_client_probe(name, sock, sizeof sock, &e2);
    cJSON_AddBoolToObject(o, "daemon", up == 1);
    cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
    int *ids, n;
    if (qt_session_job_ids(s, &ids, &n, &e2) == QT_OK) {
        for (int i = 0; i < n; i++) {
            char rel[64], path[PATH_MAX];
            snprintf(rel, sizeof rel, "jobs/%d/job.json", ids[i]);
            (void)path;
            char *jt = qt_session_read(s, rel, NULL, NULL);
            cJSON *j = jt ? cJSON_Parse(jt) : NULL;
            free(jt);
            const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
            if (st && (!strcmp(st, "running") || !strcmp(st, "queued"))) {
                if (up != 1 && !strcmp(st, "running"))   /* its daemon is gone */
                    cJSON_ReplaceItemInObject(j, "state", cJSON_CreateString("interrupted"));
                cJSON_DeleteItemFromObject(j, "pid");
                cJSON_AddItemToArray(jobs, j);
            } else {
                cJSON_Delete(j);
            }
        }
        free(ids);
    }
    qt_session_free(s);
    return o;
}

int qt_cmd_ls(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_help(usage);
        if (!strcmp(argv[i], "--json")) json = 1;
        else return cli_usage("ls", usage);
    }
    qt_err err;
    char **names;
    int n;
    if (qt_session_list(&names, &n, &err)) return cli_fail(&err);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = session_json(names[i], &err);
        if (!o) { fprintf(stderr, "qtune: %s\n", err.msg); continue; }
        cJSON_AddItemToArray(arr, o);
    }
    qt_session_names_free(names, n);
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddItemToObject(doc, "sessions", arr);
        cli_print_json(doc);
        return 0;
    }
    if (!cJSON_GetArraySize(arr)) {
        printf("no sessions\n");
        cJSON_Delete(arr);
        return 0;
    }
    printf("%-20s %-7s %-40s %-28s %s\n", "SESSION", "ENGINE", "MODEL", "RECIPE", "JOBS");
    cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(o, "model"));
        const char *base = model ? strrchr(model, '/') : NULL;
        char rec[64];
        snprintf(rec, sizeof rec, "v%d %.24s", (int)qt_json_i64(cJSON_GetObjectItem(o, "recipe_version"), 0, INT_MAX, 0),
                 cJSON_GetStringValue(cJSON_GetObjectItem(o, "recipe")));
        char jobs[256] = "";
        cJSON *j;
        cJSON_ArrayForEach(j, cJSON_GetObjectItem(o, "jobs")) {
            size_t l = strlen(jobs);
            /* job.json is a file: any field may be missing or odd */
            const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind"));
            snprintf(jobs + l, sizeof jobs - l, "%s#%lld %.16s %s %lld/%lld", l ? ", " : "",
                     (long long)qt_json_i64(cJSON_GetObjectItem(j, "id"), 0, INT_MAX, 0), kind ? kind : "?",
                     cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")),
                     (long long)qt_json_i64(cJSON_GetObjectItem(j, "done"), 0, INT64_MAX / 2, 0),
                     (long long)qt_json_i64(cJSON_GetObjectItem(j, "total"), 0, INT64_MAX / 2, 0));
        }
        printf("%-20s %-7s %-40.40s %-28s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")),
               cJSON_IsTrue(cJSON_GetObjectItem(o, "daemon")) ? "up" : "-",
               model ? (base && strlen(model) > 40 ? base + 1 : model) : "-", rec, jobs[0] ? jobs : "-");
    }
    cJSON_Delete(arr);
    return 0;
}
