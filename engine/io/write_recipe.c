/* write_recipe.c — checkpoint writing driven by a resolved recipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe/recipe.h"
#include "io/writer.h"

/* Refuses modifiers qtune does not implement: never silently round to
 * nearest what the recipe asks GPTQ/AWQ/... to do. */
static int check_modifiers(const struct qt_recipe *r, qt_err *err) {
    for (int i = 0; i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        if (!qt_algo_quantize_runs(md->algo))
            return qt_err_set(err, "%s: %s is not implemented yet; qtune quantize would only round to nearest. "
                              "Use QuantizationModifier for round-to-nearest", md->type,
                              md->algo == QT_ALGO_OTHER ? "this modifier" : qt_algo_name(md->algo));
    }
    return QT_OK;
}

int qt_write_ct_recipe(const struct qt_model *m, const struct qt_recipe *r, const struct qt_resolution *res,
                       const struct qt_write_params *p, struct qt_write_result *out, qt_err *err) {
    if (check_modifiers(r, err) != QT_OK) {
        if (r->path) qt_err_prefix(err, "%s", r->path);
        return QT_ERR;
    }
    if (res->n != m->n_tensors) return qt_err_set(err, "quantize: the recipe was resolved against another model");
    int nrg = r->n_groups;
    size_t ntot = 0;
    for (int g = 0; g < nrg; g++) ntot += (size_t)r->groups[g].n_targets;
    int *tg = malloc(((size_t)m->n_tensors + 1) * sizeof *tg);          /* (n_tensors) */
    int *map = malloc(((size_t)nrg + 1) * sizeof *map);                 /* (nrg) recipe group -> ct group */
    struct qt_ct_group *groups = calloc((size_t)nrg + 1, sizeof *groups);
    char (*names)[32] = calloc((size_t)nrg + 1, sizeof *names);
    const char **targets = calloc(ntot + 1, sizeof *targets);
    char *yaml = NULL;
    struct qt_pipe *pipe = NULL;
    char algo[64];
    int rc = QT_ERR;
    if (!tg || !map || !groups || !names || !targets) { qt_err_set(err, "out of memory"); goto done; }
    for (int g = 0; g < nrg; g++) map[g] = -1;
    int ng = 0;
    size_t tk = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *rv = &res->t[i];
        tg[i] = -1;
        if (!rv->quantized || rv->group < 0) continue;
        int g = rv->group;
        if (map[g] < 0) {
            const struct qt_rgroup *rg = &r->groups[g];
            map[g] = ng;
            snprintf(names[ng], sizeof names[ng], "group_%d", ng);
            groups[ng].name = names[ng];
            groups[ng].scheme = rg->scheme;
            groups[ng].targets = targets + tk;
            groups[ng].n_targets = rg->n_targets;
            for (int k = 0; k < rg->n_targets; k++) targets[tk++] = rg->targets[k].text;
            ng++;
        }
        tg[i] = map[g];
    }
    size_t ylen;
    yaml = qt_recipe_dump(r, &ylen, err);
    if (!yaml) goto done;
    struct qt_write_params q = *p;
    q.n_groups = ng;
    q.groups = groups;
    q.tensor_group = tg;
    q.recipe_yaml = yaml;
    if (qt_pipe_needed(r, res)) {
        struct qt_pipe_params pp = {
            .calib_path = p->calib, .samples = p->calib_samples, .seqlen = p->calib_len,
            .progress = p->layer_progress, .progress_ud = p->layer_progress_ud, .cancel = p->cancel,
            .state_dir = p->pipe_state_dir, .state_key = p->pipe_state_key,
        };
        if (qt_pipe_check(m, &pp, err) != QT_OK) goto done;
        /* config groups of GPTQ modifiers record their activation order */
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_resolved *rv = &res->t[i];
            if (tg[i] < 0 || rv->algo != QT_ALGO_GPTQ) continue;
            groups[tg[i]].actorder = "static";
        }
        if (qt_pipe_run(m, r, res, &pp, &pipe, err) != QT_OK) goto done;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_resolved *rv = &res->t[i];
            if (tg[i] < 0 || rv->algo != QT_ALGO_GPTQ) continue;
            groups[tg[i]].actorder = qt_pipe_actorder(pipe, i);
        }
        q.pipe = pipe;
        /* what ran, in pipeline order: "SmoothQuant+GPTQ+SparseGPT", "AWQ+GPTQ", "AWQ" */
        int sq = 0, aw = 0, gq = 0, sp = 0;
        for (int i = 0; i < r->n_mods; i++) sq |= r->mods[i].algo == QT_ALGO_SMOOTHQUANT;
        for (int i = 0; i < r->n_mods; i++) aw |= r->mods[i].algo == QT_ALGO_AWQ;
        for (int i = 0; i < m->n_tensors; i++) gq |= res->t[i].quantized && res->t[i].algo == QT_ALGO_GPTQ;
        for (int i = 0; i < m->n_tensors; i++) sp |= res->t[i].sparse;
        snprintf(algo, sizeof algo, "%s%s%s%s", sq ? "SmoothQuant+" : "", aw ? (gq ? "AWQ+" : "AWQ") : "",
                 gq ? "GPTQ" : aw ? "" : "RTN", sp ? "+SparseGPT" : "");
        q.algorithm = algo;
    }
    rc = qt_write_ct(m, &q, out, err);
done:
    qt_pipe_free(pipe);
    free(yaml);
    free(tg);
    free(map);
    free(groups);
    free(names);
    free(targets);
    return rc;
}
