/* source_eval.c — eval results by recipe text: which eval job (if any) has
 * measured the KL of a recipe, for the compare panel's variants. */
#include <string.h>

#include "source.h"

uint64_t src_text_hash(const char *text) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

const struct src_job *src_eval_of(const struct src *s, const char *text) {
    if (!text) return NULL;
    uint64_t h = src_text_hash(text);
    const struct src_job *done = NULL, *live = NULL, *failed = NULL;
    for (int i = 0; i < s->jobs.n; i++) {
        const struct src_job *j = &s->jobs.list[i];
        if (strcmp(j->kind, "eval") || !j->recipe_known || j->recipe_hash != h) continue;
        if (!strcmp(j->state, "done") && j->has_kl) done = j;
        else if (!strcmp(j->state, "queued") || !strcmp(j->state, "running")) live = j;
        else if (!strcmp(j->state, "failed") || !strcmp(j->state, "interrupted")) failed = j;
    }
    return done ? done : live ? live : failed;
}

int src_text_original(const char *text) {
    if (!text) return 0;
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return 0;
    return 1;
}
