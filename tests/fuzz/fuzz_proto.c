/* fuzz_proto.c — protocol lines into an in-process daemon with the tiny
 * model open: framing checks, JSON, then every read-only op (tensors,
 * resolve, match, detail, preview, lint, deploy, recipe_get, job_list...).
 * Ops that write the session or start work (open, recipe_set/edit, undo,
 * redo, variant_store, job_submit/cancel, shutdown) are skipped so that
 * inputs stay independent and the disk stays clean. */
#include <limits.h>
#include <sys/socket.h>

#include <cJSON.h>

#include "daemon/daemon.h"
#include "daemon/daemon_ops.h"
#include "fuzz.h"

static struct qt_daemon *d;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char home[256], model[4096];
    snprintf(home, sizeof home, "%s/home", fz_tmpdir());
    setenv("QTUNE_HOME", home, 1);
    qt_err err;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || qt_daemon_new("fuzz", 0, &d, &err) ||
        qt_daemon_add_client(d, sv[1], &err)) {
        fprintf(stderr, "fuzz_proto: %s\n", err.msg);
        abort();
    }
    snprintf(model, sizeof model, "%s/share/models/tiny-glm-moe", fz_root());
    cJSON *req = cJSON_CreateObject(), *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(req, "version", QT_PROTO_VERSION);
    if (qt_daemon_op(d, d->clients[0], "hello", req, res, &err)) { fprintf(stderr, "fuzz_proto: %s\n", err.msg); abort(); }
    cJSON_Delete(req);
    cJSON_Delete(res);
    req = cJSON_CreateObject();
    res = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", model);
    if (qt_daemon_op(d, d->clients[0], "open", req, res, &err)) { fprintf(stderr, "fuzz_proto: %s\n", err.msg); abort(); }
    cJSON_Delete(req);
    cJSON_Delete(res);
    return 0;
}

static int skipped(const char *op) {
    static const char *const no[] = {"open", "recipe_set", "recipe_edit", "undo", "redo", "variant_store",
                                     "job_submit", "job_cancel", "shutdown"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!strcmp(op, no[i])) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (s + i)) : size - i;
        const char *line = s + i;
        i += len + 1;
        if (len > QT_PROTO_LINE_MAX || qt_json_has_nul(line, len)) continue;
        cJSON *req = cJSON_ParseWithLength(line, len);
        const cJSON *op = cJSON_GetObjectItem(req, "op");
        if (cJSON_IsObject(req) && cJSON_IsString(op) && !skipped(op->valuestring)) {
            cJSON *res = cJSON_CreateObject();
            qt_err err = {{0}};
            qt_daemon_op(d, d->clients[0], op->valuestring, req, res, &err);
            char *out = qt_json_print(res);
            free(out);
            cJSON_Delete(res);
        }
        cJSON_Delete(req);
    }
    return 0;
}
