/* bench_quantize.c — `qtune bench quantize`: checkpoint write throughput (GB
 * of source weights per second: read, W4A16 round-to-nearest, pack, write,
 * fsync, config and side files) of the tiny model.  Baseline, measured in
 * the same run: a plain copy (read + write + fsync) of the same safetensors
 * files into the same file system. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "model/model.h"
#include "io/gguf_write.h"
#include "io/writer.h"
#include "io/outdir.h"
#include "recipe/gguf_plan.h"

/* Copies every .safetensors file of src into dst; *bytes gets the total. */
static int copy_weights(const char *src, const char *dst, int64_t *bytes, qt_err *err) {
    DIR *d = opendir(src);
    if (!d) return qt_err_set(err, "%s: cannot open", src);
    struct dirent *de;
    static char buf[1 << 20];
    char a[4600], b[4600];
    *bytes = 0;
    int rc = QT_OK;
    while (rc == QT_OK && (de = readdir(d))) {
        if (!qt_str_ends_with(de->d_name, ".safetensors")) continue;
        snprintf(a, sizeof a, "%s/%s", src, de->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, de->d_name);
        int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0) rc = qt_err_set(err, "%s: cannot copy", a);
        ssize_t r;
        while (rc == QT_OK && (r = read(in, buf, sizeof buf)) > 0) {
            if (write(out, buf, (size_t)r) != r) rc = qt_err_set(err, "%s: write failed", b);
            *bytes += r;
        }
        if (rc == QT_OK && fsync(out) != 0) rc = qt_err_set(err, "%s: fsync failed", b);
        if (in >= 0) close(in);
        if (out >= 0) close(out);
    }
    closedir(d);
    return rc;
}

int qt_bench_quantize(void **json_out, qt_err *err) {
    const char *root = getenv("QTUNE_ROOT");
    const char *tmp = getenv("QTUNE_TEST_OUT");
    char model[4096], dir[4200], out[4300], cp[4300];
    snprintf(model, sizeof model, "%s/share/models/tiny-glm-moe", root ? root : ".");
    snprintf(dir, sizeof dir, "%s/qtune-bench-quantize-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return qt_err_set(err, "%s: cannot create", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(cp, sizeof cp, "%s/copy", dir);
    struct qt_model *m;
    if (qt_model_open(model, &m, err) != QT_OK) { qt_outdir_rmtree(dir, err); return QT_ERR; }
    int *tg = malloc((size_t)m->n_tensors * sizeof *tg);
    if (!tg) { qt_model_free(m); return qt_err_set(err, "out of memory"); }
    int nq = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        tg[i] = qt_role_is_linear(t->role) && t->role != QT_ROLE_LM_HEAD && t->ndim == 2 ? 0 : -1;
        nq += tg[i] == 0;
    }
    const char *targets[] = {"Linear"};
    struct qt_ct_group g = {"group_0", 1, targets, "W4A16", NULL};
    struct qt_write_params p = {.out = out, .force = 1, .n_groups = 1, .groups = &g, .tensor_group = tg};
    /* --format gguf: the same model as a Q4_K_M GGUF (llama-quantize's mix) */
    const int gguf = !strcmp(qt_bench_format, "gguf");
    struct qt_gguf_spec spec;
    struct qt_gguf_plan plan = {0};
    char gout[4400];
    snprintf(gout, sizeof gout, "%s/out.gguf", dir);
    struct qt_gguf_write_params gp = {.out = gout, .force = 1};
    if (gguf && (qt_gguf_spec_from_ftype("Q4_K_M", &spec, err) != QT_OK || qt_gguf_plan_build(m, &spec, 0, &plan, err) != QT_OK)) {
        free(tg);
        qt_model_free(m);
        qt_outdir_rmtree(dir, err);
        return QT_ERR;
    }
    if (gguf) nq = 0;
    for (int i = 0; gguf && i < plan.n; i++) nq += plan.t[i].quantizable;
    const int reps = 3;
    double best = 1e9, base = 1e9;
    int64_t src_bytes = 0, copy_bytes = 0, written = 0;
    int rc = QT_OK;
    for (int r = 0; r < reps && rc == QT_OK; r++) {
        struct qt_write_result res;
        /* a fresh output directory, as the copy gets: removing the previous
         * run's checkpoint is not part of writing one */
        qt_outdir_rmtree(out, err);
        qt_outdir_rmtree(gout, err);
        double t0 = qt_now();
        rc = gguf ? qt_gguf_write(m, &plan, &gp, &res, err) : qt_write_ct(m, &p, &res, err);
        double t1 = qt_now();
        if (rc != QT_OK) break;
        src_bytes = res.bytes_source;
        written = res.bytes_written;
        qt_outdir_rmtree(cp, err);
        mkdir(cp, 0755);
        double t2 = qt_now();
        rc = copy_weights(model, cp, &copy_bytes, err);
        double t3 = qt_now();
        if (t1 - t0 < best) best = t1 - t0;
        if (t3 - t2 < base) base = t3 - t2;
    }
    qt_err e2;
    qt_outdir_rmtree(dir, &e2);
    free(tg);
    qt_model_free(m);
    if (gguf) qt_gguf_plan_free(&plan);
    if (rc != QT_OK) return QT_ERR;
    double v = (double)src_bytes / best / 1e9, b = (double)copy_bytes / base / 1e9;
    cJSON *d;
    cJSON *j = cli_bench_result("quantize", gguf ? "Q4_K_M GGUF write, GB of source weights per second"
                                                 : "W4A16 checkpoint write, GB of source weights per second",
                                v, b, b > 0 ? v / b : 0, "GB/s", &d);
    cJSON_AddNumberToObject(d, "source_bytes", (double)src_bytes);
    cJSON_AddNumberToObject(d, "written_bytes", (double)written);
    cJSON_AddNumberToObject(d, "copied_bytes", (double)copy_bytes);
    cJSON_AddNumberToObject(d, gguf ? "tensors_quantized" : "modules_quantized", nq);
    cJSON_AddNumberToObject(d, "write_ms", best * 1e3);
    cJSON_AddNumberToObject(d, "copy_ms", base * 1e3);
    cJSON_AddNumberToObject(d, "runs", reps);
    cJSON_AddStringToObject(d, "baseline_is", "read + write + fsync of the same .safetensors files");
    double la[1] = {0};
    if (getloadavg(la, 1) == 1) cJSON_AddNumberToObject(d, "load_average_1min", la[0]);   /* how shared the cores were */
    if (!gguf) cJSON_AddNumberToObject(d, "goal_ratio", 0.5);
    *json_out = j;
    return QT_OK;
}
