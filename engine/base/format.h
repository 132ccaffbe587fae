/* format.h — human-readable figures for tables (the CLI and the TUI share them). */
#ifndef QT_FORMAT_H
#define QT_FORMAT_H
#include <stddef.h>
#include <stdint.h>

/* 1234567 -> "1.23M"; returns buf. */
char *qt_fmt_count(int64_t n, char *buf, size_t len);
/* Bytes with binary units: 1536 -> "1.50 KiB"; returns buf. */
char *qt_fmt_bytes(double bytes, char *buf, size_t len);
/* "[8192, 256]" */
char *qt_fmt_shape(const int64_t *shape, int ndim, char *buf, size_t len);
#endif
