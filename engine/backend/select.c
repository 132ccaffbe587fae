/* select.c — the backend choice of the process and the dispatching helpers. */
#include "backend/select.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cuda/cuda.h"

static pthread_mutex_t sel_mu = PTHREAD_MUTEX_INITIALIZER;
static int chosen = -1;         /* enum qt_backend_kind, -1: not resolved */
static int children_only;       /* this process stays on the CPU; children choose */
static int touched;             /* this process has called into CUDA */
static int atfork_set;

static void at_child(void) {
    if (touched) {
        chosen = QT_BACKEND_CPU;    /* CUDA does not survive fork */
        children_only = 1;
    } else if (children_only) {
        children_only = 0;
        chosen = -1;
    }
}

void qt_backend_gpu_in_children_only(void) {
    pthread_mutex_lock(&sel_mu);
    if (!atfork_set) atfork_set = pthread_atfork(NULL, NULL, at_child) == 0;
    children_only = 1;
    pthread_mutex_unlock(&sel_mu);
}

static int open_cuda(qt_err *err) {
    struct qt_cuda_info info;
    if (children_only) return qt_err_set(err, "CUDA: not in this process (its forked workers use the GPU)");
    if (!atfork_set) atfork_set = pthread_atfork(NULL, NULL, at_child) == 0;
    touched = 1;
    return qt_cuda_probe(&info, err);
}

int qt_backend_cuda_enter(qt_err *err) { return open_cuda(err); }

int qt_backend_choose(const char *name, qt_err *err) {
    int k;
    if (!strcmp(name, "cpu")) {
        k = QT_BACKEND_CPU;
    } else if (!strcmp(name, "cuda")) {
        if (open_cuda(err) != QT_OK) return qt_err_prefix(err, "--backend cuda");
        k = QT_BACKEND_CUDA;
    } else if (!strcmp(name, "auto")) {
        k = open_cuda(NULL) == QT_OK ? QT_BACKEND_CUDA : QT_BACKEND_CPU;
    } else {
        return qt_err_set(err, "--backend %s: unknown backend (cpu, cuda or auto)", name);
    }
    pthread_mutex_lock(&sel_mu);
    chosen = k;
    pthread_mutex_unlock(&sel_mu);
    return QT_OK;
}

enum qt_backend_kind qt_backend_active(void) {
    pthread_mutex_lock(&sel_mu);
    int k = chosen;
    pthread_mutex_unlock(&sel_mu);
    if (k >= 0) return (enum qt_backend_kind)k;
    const char *env = getenv("QTUNE_BACKEND");
    if (!env || !*env || qt_backend_choose(env, NULL) != QT_OK) qt_backend_choose("auto", NULL);
    pthread_mutex_lock(&sel_mu);
    k = chosen;
    pthread_mutex_unlock(&sel_mu);
    return (enum qt_backend_kind)k;
}

const char *qt_backend_active_name(void) {
    return qt_backend_active() == QT_BACKEND_CUDA ? "cuda" : "cpu";
}

void qt_backend_describe(char *buf, size_t n) {
    if (qt_backend_active() == QT_BACKEND_CUDA) {
        struct qt_cuda_info info;
        touched = 1;
        if (qt_cuda_probe(&info, NULL) == QT_OK) {
            snprintf(buf, n, "cuda: %s, %.1f GiB free of %.1f GiB", info.name, (double)info.mem_free / 1073741824.0,
                     (double)info.mem_total / 1073741824.0);
            return;
        }
    }
    snprintf(buf, n, "cpu: %d threads, %s kernels", qt_nthreads(), qt_quant_isa_name(qt_quant_isa()));
}

void qt_backend_mem(int64_t *free_b, int64_t *total_b) {
    *free_b = *total_b = 0;
    struct qt_cuda_info info;
    if (qt_backend_active() == QT_BACKEND_CUDA && (touched = 1) && qt_cuda_probe(&info, NULL) == QT_OK) {
        *free_b = info.mem_free;
        *total_b = info.mem_total;
    }
}

/* The dispatching helpers: the table of the chosen backend (backend.c). */
int qt_be_quant_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                       enum qt_dtype wdtype, float global_amax, struct qt_qtensor *out,
                       float *deq, qt_err *err) {
    return qt_backend_quant_tensor(qt_backend_default(), w, rows, cols, s, wdtype, global_amax, out, deq, err);
}

int qt_be_quant_dequant(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                        enum qt_dtype wdtype, float *out, qt_err *err) {
    return qt_backend_quant_dequant(qt_backend_default(), w, rows, cols, s, wdtype, out, err);
}

int qt_backend_probe_start(int *pid) {
    int p[2];
    *pid = -1;
    if (pipe(p) != 0) return -1;
    pid_t c = fork();
    if (c < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (c == 0) {
        /* the child: its own choice (QTUNE_BACKEND or auto), then one line */
        close(p[0]);
        char line[320] = "";
        struct qt_cuda_info info;
        const char *env = getenv("QTUNE_BACKEND");
        int want = !env || !*env || strcmp(env, "cpu") != 0;
        touched = 1;
        if (want && qt_cuda_probe(&info, NULL) == QT_OK)
            snprintf(line, sizeof line, "%s %.1f GiB free", info.name, (double)info.mem_free / 1073741824.0);
        size_t len = strlen(line) + 1;
        ssize_t w = write(p[1], line, len);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    *pid = (int)c;
    return p[0];
}

int qt_backend_probe_poll(int fd, int pid, char *buf, size_t n) {
    char tmp[320];
    ssize_t r = read(fd, tmp, sizeof tmp - 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    close(fd);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    if (r <= 0) return -1;
    tmp[r] = 0;
    snprintf(buf, n, "%s", tmp);
    return 1;
}
