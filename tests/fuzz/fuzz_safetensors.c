/* fuzz_safetensors.c — the safetensors reader: the 8-byte length, the JSON
 * header (dtypes, shapes, offsets, overlap, __metadata__), mmap'd data. */
#include <sys/mman.h>

#include "fuzz.h"
#include "model/safetensors.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fd < 0) {   /* one memory file, rewritten per input: no disk traffic */
        fd = memfd_create("st", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    struct qt_st_file *f;
    qt_err err;
    if (qt_st_open(path, &f, &err) == QT_OK) {
        volatile uint8_t sum = 0;
        for (int i = 0; i < f->n; i++) {
            const uint8_t *p = qt_st_entry_data(f, i);
            uint64_t n = f->entries[i].end - f->entries[i].begin;
            if (n) sum ^= p[0] ^ p[n - 1];   /* first and last byte are inside the map */
            if (qt_st_find(f, f->entries[i].name) < 0) abort();
        }
        qt_st_close(f);
    }
    return 0;
}
