/* smoothquant.c — SmoothQuant's smoothing factors (see smoothquant.h). */
#include "algo/smoothquant.h"

#include <math.h>

void qt_sq_scales(const float *amax, const float *wmax, int64_t n, double alpha, float *s) {
    for (int64_t j = 0; j < n; j++) {
        double a = amax[j], w = wmax[j], v;
        if (!(a > 0) || !isfinite(a)) v = 1;
        else if (!(w > 0)) v = a;   /* llm-compressor: activation scale where no weight */
        else v = pow(a, alpha) / pow(w, 1 - alpha);
        if (!(v > 0) || !isfinite(v)) v = 1;
        /* nearest power of two in the log domain; bounded so bf16 neither
         * overflows nor underflows */
        double e = nearbyint(log2(v));
        if (e > 60) e = 60;
        if (e < -60) e = -60;
        s[j] = (float)ldexp(1.0, (int)e);
    }
}
