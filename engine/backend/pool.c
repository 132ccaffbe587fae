/* pool.c — the process's one thread pool (backend.h: qt_pool_run,
 * qt_pool_start / qt_pool_wait).
 *
 * Workers start on first use (qt_nthreads() of them, so that a job started
 * with qt_pool_start runs on every core while its submitter does other work;
 * a qt_pool_run caller works too, but a job never has more blocks running
 * than its parts) and wait on a condition variable between jobs, so a forward that
 * runs thousands of small parallel loops pays no pthread_create per loop.
 * A job is a range cut into static blocks; any thread claims the next block
 * with an atomic counter.  The submitting thread works through its own
 * job's blocks before it waits, so nested or concurrent submissions (a
 * daemon job next to a preview) always finish, even when every worker is
 * busy.  After fork the child starts with no workers (they are not
 * copied) and a fresh lock; at exit the workers are stopped and joined. */
#include "backend/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct pjob {
    void (*fn)(void *, int64_t, int64_t);
    void *arg;
    int64_t n;
    int parts;
    atomic_int next;            /* next block to claim */
    int done;                   /* blocks finished (under mu) */
    struct pjob *link;          /* queue of jobs with unclaimed blocks */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;      /* a job was queued / stop */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;  /* a block finished */
static struct pjob *queue;
static pthread_t *workers;
static int n_workers = -1;       /* -1: not started */
static int n_idle;               /* workers waiting for a job (under mu) */
static int stopping;

static void run_block(struct pjob *j, int k) {
    j->fn(j->arg, j->n * k / j->parts, j->n * (k + 1) / j->parts);
}

/* Claims a block of j or returns -1; drops j from the queue once every
 * block is claimed (call under mu). */
static int claim(struct pjob *j) {
    int k = atomic_fetch_add(&j->next, 1);
    if (k < j->parts) {
        if (k == j->parts - 1)
            for (struct pjob **p = &queue; *p; p = &(*p)->link)
                if (*p == j) { *p = j->link; break; }
        return k;
    }
    return -1;
}

static void *worker_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&mu);
    for (;;) {
        n_idle++;
        while (!queue && !stopping) pthread_cond_wait(&work, &mu);
        n_idle--;
        if (stopping) break;
        struct pjob *j = queue;
        int k = claim(j);
        if (k < 0) continue;
        pthread_mutex_unlock(&mu);
        run_block(j, k);
        pthread_mutex_lock(&mu);
        if (++j->done == j->parts) pthread_cond_broadcast(&finished);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void pool_stop(void) {
    pthread_mutex_lock(&mu);
    stopping = 1;
    int n = n_workers;
    pthread_cond_broadcast(&work);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) pthread_join(workers[i], NULL);
    free(workers);
    workers = NULL;
    n_workers = -1;
    stopping = 0;
}

/* The child of a fork has only the forking thread: forget the workers (their
 * pthread_t are meaningless there) and reset the locks. */
static void pool_atfork_child(void) {
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&work, NULL);
    pthread_cond_init(&finished, NULL);
    queue = NULL;
    free(workers);
    workers = NULL;
    n_workers = -1;
    n_idle = 0;
    stopping = 0;
}

/* Starts the workers (call under mu). */
static void pool_start(void) {
    static int hooks;
    if (!hooks) {
        hooks = 1;
        pthread_atfork(NULL, NULL, pool_atfork_child);
        atexit(pool_stop);
    }
    int want = qt_nthreads();
    n_workers = 0;
    if (want <= 0) return;
    workers = malloc(sizeof *workers * (size_t)want);
    if (!workers) return;
    for (int i = 0; i < want; i++) {
        if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) break;
        n_workers++;
    }
}

int qt_pool_threads(void) {
    pthread_mutex_lock(&mu);
    if (n_workers < 0) pool_start();
    int n = n_workers;
    pthread_mutex_unlock(&mu);
    return n > 0 ? n : 1;
}

void qt_pool_run(int64_t n, int parts, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg) {
    if (n <= 0) return;
    if (parts <= 0) parts = qt_nthreads();
    if (parts > n) parts = (int)n;
    if (parts <= 1) {
        fn(arg, 0, n);
        return;
    }
    struct pjob j = {.fn = fn, .arg = arg, .n = n, .parts = parts};
    atomic_init(&j.next, 0);
    pthread_mutex_lock(&mu);
    if (n_workers < 0) pool_start();
    if (n_workers > 0) {
        j.link = queue;     /* newest first: an inner (nested) job runs before outer ones */
        queue = &j;
        pthread_cond_broadcast(&work);
    }
    for (;;) {
        int k = n_workers > 0 ? claim(&j) : atomic_fetch_add(&j.next, 1);
        if (k < 0 || k >= parts) break;
        pthread_mutex_unlock(&mu);
        run_block(&j, k);
        pthread_mutex_lock(&mu);
        j.done++;
    }
    while (j.done < parts) pthread_cond_wait(&finished, &mu);
    pthread_mutex_unlock(&mu);
}

void qt_parallel_for(int64_t n, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg) {
    int nt = qt_nthreads();
    if (nt > 64) nt = 64;
    qt_pool_run(n, nt, fn, arg);
}

/* ---- jobs that run beside their submitter ---------------------------------- */

struct qt_pool_job {
    struct pjob j;
};

struct qt_pool_job *qt_pool_start(int64_t n, int parts, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg) {
    if (n <= 0) return NULL;
    if (parts <= 0) parts = qt_nthreads();
    if (parts > n) parts = (int)n;
    struct qt_pool_job *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->j.fn = fn;
    h->j.arg = arg;
    h->j.n = n;
    h->j.parts = parts;
    atomic_init(&h->j.next, 0);
    pthread_mutex_lock(&mu);
    if (n_workers < 0) pool_start();
    /* an idle worker takes it now; with none, the caller must not count on
     * concurrency (every worker may be busy with work that waits on it) */
    if (n_workers <= 0 || n_idle <= 0) {
        pthread_mutex_unlock(&mu);
        free(h);
        return NULL;
    }
    h->j.link = queue;
    queue = &h->j;
    pthread_cond_broadcast(&work);
    pthread_mutex_unlock(&mu);
    return h;
}

void qt_pool_wait(struct qt_pool_job *h) {
    if (!h) return;
    struct pjob *j = &h->j;
    pthread_mutex_lock(&mu);
    for (;;) {
        int k = claim(j);
        if (k < 0) break;
        pthread_mutex_unlock(&mu);
        run_block(j, k);
        pthread_mutex_lock(&mu);
        j->done++;
    }
    while (j->done < j->parts) pthread_cond_wait(&finished, &mu);
    pthread_mutex_unlock(&mu);
    free(h);
}
