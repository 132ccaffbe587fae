/* format.c — human-readable figures. */
#include "base/format.h"

#include <stdio.h>

char *qt_fmt_count(int64_t n, char *buf, size_t len) {
    double v = (double)n;
    if (v >= 1e12) snprintf(buf, len, "%.2fT", v / 1e12);
    else if (v >= 1e9) snprintf(buf, len, "%.2fB", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, len, "%.1fK", v / 1e3);
    else snprintf(buf, len, "%lld", (long long)n);
    return buf;
}

char *qt_fmt_bytes(double b, char *buf, size_t len) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (b >= 1024.0 && u < 5) { b /= 1024.0; u++; }
    if (u == 0) snprintf(buf, len, "%.0f B", b);
    else snprintf(buf, len, "%.*f %s", b >= 100 ? 1 : 2, b, unit[u]);
    return buf;
}

char *qt_fmt_shape(const int64_t *shape, int ndim, char *buf, size_t len) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}
