/* pngcheck.c — reads a PNG screenshot (8-bit RGB or RGBA, not interlaced,
 * what chromium --headless --screenshot writes) and prints figures about a
 * region of it, for tests/cli/test_report_browser.sh:
 *
 *   pngcheck FILE                       "w=W h=H"
 *   pngcheck FILE X0 Y0 X1 Y1 [RRGGBB]  "w=W h=H ink=F colors=N match=M first=Y last=Y"
 *
 * ink: the fraction of the region's pixels that differ by more than 40 in a
 * channel from its most common colour (0 for a blank region); colors: how
 * many distinct colours (15-bit) it holds; match: pixels within 24 of
 * RRGGBB in every channel, first/last the rows of the first and last of
 * them (-1 when none).  A tool of the test suite, not of qtune: its own
 * small inflate (RFC 1951) so that the tests need no zlib.  Exit 1 with a
 * message on anything it cannot read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *msg) {
    fprintf(stderr, "pngcheck: %s\n", msg);
    exit(1);
}

/* ---- inflate ---- */

struct inf {
    const uint8_t *in;
    size_t n, pos;
    uint32_t buf;
    int cnt;
    uint8_t *out;
    size_t len, cap;
};

static int bits(struct inf *s, int need) {
    uint32_t v = s->buf;
    while (s->cnt < need) {
        if (s->pos >= s->n) die("truncated deflate stream");
        v |= (uint32_t)s->in[s->pos++] << s->cnt;
        s->cnt += 8;
    }
    s->buf = v >> need;
    s->cnt -= need;
    return (int)(v & ((1u << need) - 1));
}

static void put(struct inf *s, uint8_t b) {
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 20;
        s->out = realloc(s->out, s->cap);
        if (!s->out) die("out of memory");
    }
    s->out[s->len++] = b;
}

struct huff {
    short count[16];
    short sym[320];
};

static void build(struct huff *h, const short *len, int n) {
    short offs[16];
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++) h->count[len[i]]++;
    h->count[0] = 0;
    offs[1] = 0;
    for (int l = 1; l < 15; l++) offs[l + 1] = (short)(offs[l] + h->count[l]);
    for (int i = 0; i < n; i++)
        if (len[i]) h->sym[offs[len[i]]++] = (short)i;
}

static int decode(struct inf *s, const struct huff *h) {
    int code = 0, first = 0, index = 0;
    for (int l = 1; l < 16; l++) {
        code |= bits(s, 1);
        int c = h->count[l];
        if (code - c < first) return h->sym[index + (code - first)];
        index += c;
        first += c;
        first <<= 1;
        code <<= 1;
    }
    return die("bad Huffman code"), -1;
}

static const short lbase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const short dbase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
                                193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void codes(struct inf *s, const struct huff *lc, const struct huff *dc) {
    for (;;) {
        int sym = decode(s, lc);
        if (sym < 256) { put(s, (uint8_t)sym); continue; }
        if (sym == 256) return;
        sym -= 257;
        if (sym >= 29) die("bad length symbol");
        int len = lbase[sym] + bits(s, lext[sym]);
        int d = decode(s, dc);
        if (d >= 30) die("bad distance symbol");
        size_t dist = (size_t)(dbase[d] + bits(s, dext[d]));
        if (dist > s->len) die("distance too far back");
        for (int k = 0; k < len; k++) put(s, s->out[s->len - dist]);
    }
}

static void inflate_all(struct inf *s) {
    int last;
    do {
        last = bits(s, 1);
        int type = bits(s, 2);
        if (type == 0) {
            s->buf = 0;
            s->cnt = 0;
            if (s->pos + 4 > s->n) die("truncated stored block");
            unsigned len = s->in[s->pos] | (unsigned)s->in[s->pos + 1] << 8;
            s->pos += 4;
            if (s->pos + len > s->n) die("truncated stored block");
            for (unsigned k = 0; k < len; k++) put(s, s->in[s->pos++]);
        } else if (type == 1) {
            static struct huff lc, dc;
            short l[288];
            int i = 0;
            for (; i < 144; i++) l[i] = 8;
            for (; i < 256; i++) l[i] = 9;
            for (; i < 280; i++) l[i] = 7;
            for (; i < 288; i++) l[i] = 8;
            build(&lc, l, 288);
            for (i = 0; i < 30; i++) l[i] = 5;
            build(&dc, l, 30);
            codes(s, &lc, &dc);
        } else if (type == 2) {
            static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
            int nlen = bits(s, 5) + 257, ndist = bits(s, 5) + 1, ncode = bits(s, 4) + 4;
            short l[320] = {0};
            for (int i = 0; i < ncode; i++) l[order[i]] = (short)bits(s, 3);
            struct huff cl, lc, dc;
            build(&cl, l, 19);
            int i = 0;
            short ll[320] = {0};
            while (i < nlen + ndist) {
                int sym = decode(s, &cl), rep = 0;
                short v = 0;
                if (sym < 16) { ll[i++] = (short)sym; continue; }
                if (sym == 16) {
                    if (!i) die("repeat with no length");
                    v = ll[i - 1];
                    rep = 3 + bits(s, 2);
                } else if (sym == 17) rep = 3 + bits(s, 3);
                else rep = 11 + bits(s, 7);
                if (i + rep > nlen + ndist) die("too many lengths");
                while (rep--) ll[i++] = v;
            }
            build(&lc, ll, nlen);
            build(&dc, ll + nlen, ndist);
            codes(s, &lc, &dc);
        } else die("bad block type");
    } while (!last);
}

/* ---- PNG ---- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 6 && argc != 7) die("usage: pngcheck FILE [X0 Y0 X1 Y1 [RRGGBB]]");
    FILE *f = fopen(argv[1], "rb");
    if (!f) die("cannot open the file");
    fseek(f, 0, SEEK_END);
    long fl = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (fl < 33) die("too short for a PNG");
    uint8_t *d = malloc((size_t)fl);
    if (!d || fread(d, 1, (size_t)fl, f) != (size_t)fl) die("cannot read the file");
    fclose(f);
    if (memcmp(d, "\x89PNG\r\n\x1a\n", 8)) die("not a PNG");
    uint32_t w = 0, h = 0;
    int ch = 0;
    uint8_t *z = NULL;
    size_t zn = 0;
    for (size_t p = 8; p + 12 <= (size_t)fl;) {
        uint32_t len = be32(d + p);
        const uint8_t *type = d + p + 4, *body = d + p + 8;
        if (p + 12 + len > (size_t)fl) die("truncated chunk");
        if (!memcmp(type, "IHDR", 4)) {
            w = be32(body);
            h = be32(body + 4);
            if (body[8] != 8 || (body[9] != 2 && body[9] != 6) || body[12] != 0)
                die("only 8-bit RGB/RGBA, not interlaced");
            ch = body[9] == 6 ? 4 : 3;
        } else if (!memcmp(type, "IDAT", 4)) {
            z = realloc(z, zn + len);
            if (!z) die("out of memory");
            memcpy(z + zn, body, len);
            zn += len;
        } else if (!memcmp(type, "IEND", 4)) break;
        p += 12 + len;
    }
    if (!w || !h || !z || zn < 2 || w > 20000 || h > 40000) die("no image data");
    struct inf s = {.in = z, .n = zn, .pos = 2};   /* past the zlib header */
    inflate_all(&s);
    size_t stride = (size_t)w * (size_t)ch;
    if (s.len < (stride + 1) * h) die("image data too short");
    uint8_t *px = malloc(stride * h);
    if (!px) die("out of memory");
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *src = s.out + y * (stride + 1) + 1;
        int ft = s.out[y * (stride + 1)];
        uint8_t *row = px + y * stride, *up = y ? row - stride : NULL;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)ch ? row[x - ch] : 0, b = up ? up[x] : 0, c = up && x >= (size_t)ch ? up[x - ch] : 0;
            int v = src[x];
            switch (ft) {
            case 0: break;
            case 1: v += a; break;
            case 2: v += b; break;
            case 3: v += (a + b) / 2; break;
            case 4: v += paeth(a, b, c); break;
            default: die("bad filter type");
            }
            row[x] = (uint8_t)v;
        }
    }
    if (argc == 2) { printf("w=%u h=%u\n", w, h); return 0; }
    long x0 = atol(argv[2]), y0 = atol(argv[3]), x1 = atol(argv[4]), y1 = atol(argv[5]);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > (long)w) x1 = w;
    if (y1 > (long)h) y1 = h;
    if (x1 <= x0 || y1 <= y0) die("empty region");
    int mr = -1, mg = -1, mb = -1;
    if (argc == 7) {
        unsigned rgb;
        if (sscanf(argv[6], "%6x", &rgb) != 1) die("colour: RRGGBB");
        mr = rgb >> 16 & 255;
        mg = rgb >> 8 & 255;
        mb = rgb & 255;
    }
    static uint32_t hist[32768];
    long match = 0, first = -1, last = -1;
    for (long y = y0; y < y1; y++)
        for (long x = x0; x < x1; x++) {
            const uint8_t *q = px + (size_t)y * stride + (size_t)x * (size_t)ch;
            hist[(q[0] >> 3) << 10 | (q[1] >> 3) << 5 | q[2] >> 3]++;
            if (mr >= 0 && abs(q[0] - mr) <= 24 && abs(q[1] - mg) <= 24 && abs(q[2] - mb) <= 24) {
                match++;
                if (first < 0) first = y;
                last = y;
            }
        }
    int mode = 0, colors = 0;
    for (int k = 0; k < 32768; k++) {
        if (hist[k]) colors++;
        if (hist[k] > hist[mode]) mode = k;
    }
    int br = (mode >> 10 & 31) << 3 | 4, bg = (mode >> 5 & 31) << 3 | 4, bb = (mode & 31) << 3 | 4;
    long ink = 0, tot = (x1 - x0) * (y1 - y0);
    for (long y = y0; y < y1; y++)
        for (long x = x0; x < x1; x++) {
            const uint8_t *q = px + (size_t)y * stride + (size_t)x * (size_t)ch;
            if (abs(q[0] - br) > 40 || abs(q[1] - bg) > 40 || abs(q[2] - bb) > 40) ink++;
        }
    printf("w=%u h=%u ink=%.4f colors=%d match=%ld first=%ld last=%ld\n", w, h, (double)ink / (double)tot, colors, match,
           first, last);
    free(px);
    free(s.out);
    free(z);
    free(d);
    return 0;
}
