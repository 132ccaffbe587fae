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

void qt_backend_device_cpu(struct qt_backend_device *dv) {
    memset(dv, 0, sizeof *dv);
    snprintf(dv->backend, sizeof dv->backend, "cpu");
    snprintf(dv->name, sizeof dv->name, "cpu");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    dv->cores = n > 0 ? (int)n : 1;
    dv->threads = qt_nthreads();
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        size_t len = strcspn(c, "\n");
        while (len > 0 && c[len - 1] == ' ') len--;
        if (len) snprintf(dv->name, sizeof dv->name, "%.*s", (int)len, c);
        break;
    }
    if (f) fclose(f);
    /* MemAvailable (what a new allocation can get without swapping), else
     * the free pages */
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        long long kb;
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) dv->mem_total = (int64_t)kb * 1024;
        else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) dv->mem_free = (int64_t)kb * 1024;
    }
    if (f) fclose(f);
    long pg = sysconf(_SC_PAGESIZE);
    if (!dv->mem_total && pg > 0) dv->mem_total = (int64_t)sysconf(_SC_PHYS_PAGES) * pg;
    if (!dv->mem_free && pg > 0) dv->mem_free = (int64_t)sysconf(_SC_AVPHYS_PAGES) * pg;
}

void qt_backend_device_text(const struct qt_backend_device *dv, char *buf, size_t n) {
    double fr = (double)dv->mem_free / 1073741824.0, tot = (double)dv->mem_total / 1073741824.0;
    if (!strcmp(dv->backend, "cuda")) snprintf(buf, n, "%s %.1f/%.1f GiB free", dv->name, fr, tot);
    else snprintf(buf, n, "cpu %d cores %.1f/%.1f GiB free", dv->cores, fr, tot);
}

/* The device of a fresh backend choice in this process (a probe child). */
static void device_now(struct qt_backend_device *dv) {
    struct qt_cuda_info info;
    const char *env = getenv("QTUNE_BACKEND");
    int want = !env || !*env || strcmp(env, "cpu") != 0;
    touched = 1;
    if (want && qt_cuda_compiled() && qt_cuda_probe(&info, NULL) == QT_OK) {
        memset(dv, 0, sizeof *dv);
        snprintf(dv->backend, sizeof dv->backend, "cuda");
        snprintf(dv->name, sizeof dv->name, "%.119s", info.name);
        dv->cores = info.sms;
        dv->cc_major = info.cc_major;
        dv->cc_minor = info.cc_minor;
        dv->mem_free = info.mem_free;
        dv->mem_total = info.mem_total;
        return;
    }
    qt_backend_device_cpu(dv);
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
        /* the child: its own choice, then the struct in one write (smaller
         * than PIPE_BUF: atomic) */
        close(p[0]);
        struct qt_backend_device dv;
        device_now(&dv);
        ssize_t w = write(p[1], &dv, sizeof dv);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    *pid = (int)c;
    return p[0];
}

int qt_backend_probe_poll(int fd, int pid, struct qt_backend_device *dv) {
    struct qt_backend_device tmp;
    ssize_t r = read(fd, &tmp, sizeof tmp);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    close(fd);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    if (r != (ssize_t)sizeof tmp) return -1;
    tmp.backend[sizeof tmp.backend - 1] = 0;
    tmp.name[sizeof tmp.name - 1] = 0;
    *dv = tmp;
    return 1;
}
