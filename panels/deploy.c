/* deploy.c — the deployment table (DESIGN §5) of the current recipe for the
 * chosen GPU, from the engine's deploy call: weights per GPU, the KV
 * capacity in tokens, the context that fits (capped at the model's limit)
 * and the concurrency at tensor parallel 1, 2, 4, 8, GPUs needed, the
 * decode bound and the cost.  j/k (or h/l) choose the GPU from the
 * catalog; Enter opens a prompt for ctx, batch, KV dtype, memory
 * utilization and TP.  Every choice is a session setting the daemon keeps
 * and applies to its estimate: the panel computes nothing.  Offered only
 * when the source has SRC_CAP_DEPLOY. */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *ctxs(double n, char *b, int len) {
    if (n >= 1e6) snprintf(b, (size_t)len, "%.1fM", n / 1e6);
    else if (n >= 1e3) snprintf(b, (size_t)len, "%.0fK", n / 1e3);
    else snprintf(b, (size_t)len, "%.0f", n);
    return b;
}

static void deploy_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    const struct src *src = a->src;
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_printf(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "deploy on %s   j/k: GPU   Enter: ctx batch kv util tp   Esc close",
               src->deploy.gpu[0] ? src->deploy.gpu : "?");
    int y = r->y + 2, x = r->x + 2;
    const cJSON *d = src->deploy.result;
    if (src->deploy.inflight && !d) { tui_puts(s, r, x, y, -1, TS_DIM, "asking the engine..."); return; }
    if (!d) { tui_puts(s, r, x, y, r->w - 2, TS_ERROR, src->deploy.err[0] ? src->deploy.err : "no estimate yet"); return; }
    char b1[32], b2[32], b3[32];
    const cJSON *g = cJSON_GetObjectItem(d, "gpu");
    tui_printf(s, r, x, y++, r->w - 2, TS_NORMAL, "%s: %s, %.2f TB/s, $%.2f/h",
               cJSON_GetStringValue(cJSON_GetObjectItem(g, "name")), wg_bytes((int64_t)num(g, "memory_bytes"), b1, sizeof b1),
               num(g, "bandwidth_bytes_s") / 1e12, num(g, "price_hour"));
    tui_printf(s, r, x, y++, r->w - 2, TS_NORMAL, "weights %s (MTP %s)   KV %s/token (%s, %d B)",
               wg_bytes((int64_t)num(d, "weights_bytes"), b1, sizeof b1), wg_bytes((int64_t)num(d, "mtp_bytes"), b2, sizeof b2),
               wg_bytes((int64_t)num(d, "kv_bytes_per_token"), b3, sizeof b3),
               cJSON_GetStringValue(cJSON_GetObjectItem(d, "kv_layout")) ? cJSON_GetStringValue(cJSON_GetObjectItem(d, "kv_layout")) : "?",
               (int)num(d, "kv_element_bytes"));
    char tp[16] = "auto";
    if (src->deploy.tp > 0) snprintf(tp, sizeof tp, "%d", src->deploy.tp);
    tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "ctx %.0f x batch %.0f at %.0f%% memory   kv %s   tp %s", num(d, "ctx"),
               num(d, "batch"), 100 * num(d, "util"), src->deploy.kv[0] ? src->deploy.kv : "auto", tp);
    if (cJSON_IsTrue(cJSON_GetObjectItem(d, "ctx_over_limit")))
        tui_printf(s, r, x, y++, r->w - 2, TS_WARN, "ctx %.0f is beyond the model's limit of %.0f tokens: capped (vLLM refuses it)",
                   num(d, "ctx_asked"), num(d, "max_position_embeddings"));
    else if (num(d, "max_position_embeddings") > 0)
        tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "max ctx capped at %.0f tokens (max_position_embeddings)",
                   num(d, "max_position_embeddings"));
    y++;
    struct tui_rect hr = {r->x, y, r->w, 1};
    tui_fill(s, &hr, L' ', TS_HEADER);
    tui_printf(s, r, x, y++, r->w - 2, TS_HEADER, "%3s %12s %13s %10s %8s %11s %5s", "tp", "weights/GPU", "KV/token/GPU",
               "KV tokens", "max ctx", "concurrency", "fits");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "per_gpu")) {
        int fits = cJSON_IsTrue(cJSON_GetObjectItem(p, "fits"));
        char b4[32], b5[32];
        snprintf(b5, sizeof b5, "%.2fx", num(p, "max_concurrency"));
        tui_printf(s, r, x, y++, r->w - 2, fits ? TS_QUANT : TS_NORMAL, "%3d %12s %13s %10s %8s %11s %5s", (int)num(p, "tp"),
                   wg_bytes((int64_t)num(p, "weights_bytes"), b1, sizeof b1),
                   wg_bytes((int64_t)num(p, "kv_bytes_per_token"), b2, sizeof b2),
                   num(p, "max_tokens") > 0 ? ctxs(num(p, "max_tokens"), b4, sizeof b4) : "-",
                   num(p, "max_ctx") > 0 ? ctxs(num(p, "max_ctx"), b3, sizeof b3) : "-", b5, fits ? "yes" : "no");
    }
    y++;
    int need = (int)num(d, "gpus_needed");
    if (need > 0)
        tui_printf(s, r, x, y++, r->w - 2, TS_TITLE, "needs %d GPU%s   at tp %d: decode <= %.0f tok/s   $%.2f/h   $%.3f per M tokens",
                   need, need == 1 ? "" : "s", (int)num(d, "tp"), num(d, "tok_s_bound"), num(d, "cost_per_hour"),
                   num(d, "cost_per_mtok"));
    else
        tui_puts(s, r, x, y++, r->w - 2, TS_WARN, "does not fit on 8 of these GPUs");
    if (src->deploy.inflight) tui_puts(s, r, x, y, -1, TS_DIM, "updating...");
}

static int deploy_key(struct app *a, enum tui_action act, int key) {
    struct src *s = a->src;
    if (act == TA_EXPAND && key == TK_ENTER) {   /* ctx, batch, kv, util, tp */
        if (s->ops->settings_send) app_deploy_prompt(a);
        else app_msg(a, TS_WARN, "deploy: this engine keeps no settings");
        return 1;
    }
    int dir = act == TA_DOWN || act == TA_EXPAND ? 1 : act == TA_UP || act == TA_COLLAPSE ? -1 : 0;
    if (!dir) return 0;
    if (!s->deploy.n_gpus) return 1;
    int cur = 0;
    for (int i = 0; i < s->deploy.n_gpus; i++)
        if (!strcmp(s->deploy.gpus[i], s->deploy.gpu)) cur = i;
    cur = (cur + dir + s->deploy.n_gpus) % s->deploy.n_gpus;
    tui_strcpy(s->deploy.gpu, sizeof s->deploy.gpu, s->deploy.gpus[cur]);
    s->deploy.stale = 1;
    qt_err err;   /* the session keeps the choice for the next attach */
    if (s->ops->settings_send && s->ops->settings_send(s, "gpu", s->deploy.gpu, 0, &err) != QT_OK)
        app_msg(a, TS_WARN, "%s", err.msg);
    return 1;
}

const struct panel_ops panel_deploy = {
    .name = "deploy", .title = "deploy", .draw = deploy_draw, .key = deploy_key,
};
