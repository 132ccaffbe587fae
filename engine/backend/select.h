/* select.h — which backend computes: the CPU (reference) or the CUDA GPU.
 * `--backend cpu|cuda|auto` on the command line (or QTUNE_BACKEND) sets it
 * once per process; auto (the default) takes the GPU when the CUDA backend
 * is built and a device opens, else the CPU.  The dispatching helpers below
 * are what the preview, the quantizer and the evaluation call instead of the
 * CPU kernels. */
/* Folder backend/ (docs/architecture.md): where the arithmetic runs — the
 * backend choice, the CPU reference and cuda/ (a GPU backend tested against
 * the CPU).  Includes base/, quant/ and model/; everything above calls a
 * backend instead of an #ifdef of its own. */
#ifndef QT_BACKEND_SELECT_H
#define QT_BACKEND_SELECT_H
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"
#include "quant/quant.h"
#include "quant/scheme.h"

enum qt_backend_kind { QT_BACKEND_CPU, QT_BACKEND_CUDA };

/* Chooses the backend by name ("cpu", "cuda", "auto").  "cuda" opens the
 * device now and fails with the reason (not built, no driver, no device);
 * "auto" never fails. */
int qt_backend_choose(const char *name, qt_err *err);

/* Opens the CUDA device for the CUDA row (backend.h) under the rules
 * above: refused in a process that leaves the GPU to its children, else
 * qt_cuda_probe's answer. */
int qt_backend_cuda_enter(qt_err *err);

/* The backend in use (resolving auto, or QTUNE_BACKEND, on first call). */
enum qt_backend_kind qt_backend_active(void);
const char *qt_backend_active_name(void);   /* "cpu" | "cuda" */

/* One line naming the backend and device: "cuda: NVIDIA H200, 139.2 GiB
 * free of 139.8 GiB" or "cpu: 16 threads, avx512 kernels". */
void qt_backend_describe(char *buf, size_t n);

/* For a process that forks workers without exec (the engine daemon): CUDA
 * cannot be used across fork, so this process computes on the CPU and never
 * opens the device, while the children it forks choose afresh (and may take
 * the GPU).  A child forked after this process did open the device is held
 * to the CPU. */
void qt_backend_gpu_in_children_only(void);

/* The device a backend computes on, as hello/session report it
 * (docs/protocol.md): on CUDA the card (name, compute capability,
 * multiprocessors) and its device memory; on the CPU the processor (its
 * model name from /proc/cpuinfo, else "cpu"), online cores, the threads
 * qtune computes with, and RAM (free = MemAvailable). */
struct qt_backend_device {
    char backend[8];            /* "cuda" | "cpu" */
    char name[120];             /* "NVIDIA H200" | "AMD EPYC 9654 96-Core Processor" */
    int cores;                  /* CUDA: multiprocessors; CPU: online cores */
    int threads;                /* CPU: compute threads (qt_nthreads); CUDA: 0 */
    int cc_major, cc_minor;     /* CUDA compute capability; 0 on the CPU */
    int64_t mem_free, mem_total;/* bytes: device memory, or RAM */
};

/* The CPU as this process sees it (never opens the GPU). */
void qt_backend_device_cpu(struct qt_backend_device *dv);

/* One short line for a status line: "NVIDIA H200 139.2/139.8 GiB free",
 * "cpu 16 cores 101.3/125.7 GiB free". */
void qt_backend_device_text(const struct qt_backend_device *dv, char *buf, size_t n);

/* The device as a forked child sees it, for a process that must not open
 * the GPU itself (the TUI, the daemon): qt_backend_probe_start forks a child
 * that chooses the backend afresh (QTUNE_BACKEND, else auto) and writes its
 * device (the CUDA card when that opens, else the CPU) to a pipe; it returns
 * the pipe's non-blocking read end, or -1.  qt_backend_probe_poll returns 1
 * with *dv filled and the child reaped, 0 while the child is still at work,
 * -1 on failure (fd closed, child reaped either way). */
int qt_backend_probe_start(int *pid);
int qt_backend_probe_poll(int fd, int pid, struct qt_backend_device *dv);

/* Free and total bytes of the device (0 on the CPU backend). */
void qt_backend_mem(int64_t *free_b, int64_t *total_b);

/* qt_quant_tensor / qt_quant_dequant on the chosen backend's table
 * (backend.h: qt_backend_quant_tensor on qt_backend_default()); same
 * contract, same results bit for bit. */
int qt_be_quant_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                       enum qt_dtype wdtype, float global_amax, struct qt_qtensor *out,
                       float *deq, qt_err *err);
int qt_be_quant_dequant(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                        enum qt_dtype wdtype, float *out, qt_err *err);

#endif
