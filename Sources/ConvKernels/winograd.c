// Winograd F(2×2,3×3) and F(4×4,3×3) transforms (Lavin & Gray 2016; the matrices of their paper, as NNPACK and
// oneDNN's avx512 Winograd use them). Each transform runs as two 1-D passes over whole tile rows, so the inner loops
// walk contiguous tiles and vectorise: the row pass de-interleaves a zero-padded input row into m phase rows
// (q[p][t] = row[t·m + p]), after which every tap j of tile t is q[j mod m][t + j div m].
#include "winograd.h"

#include <string.h>

#define AI static inline __attribute__((always_inline))

// F(2×2, 3×3): α = 4, interpolation points 0, ±1, ∞.
static const float BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const float AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

// F(4×4, 3×3): α = 6, interpolation points 0, ±1, ±2, ∞.
static const float BT4[6][6] = {
    {4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double G4[6][3] = {
    {1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const float AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

AI float bt(int m, int r, int c) { return m == 2 ? BT2[r][c] : BT4[r][c]; }
AI float at(int m, int r, int c) { return m == 2 ? AT2[r][c] : AT4[r][c]; }
AI double gm(int m, int r, int c) { return m == 2 ? G2[r][c] : G4[r][c]; }

long unclip_winograd_work_floats(int m, int w) {
    const long a = m + 2, tw = unclip_winograd_tiles(w, m);
    const long input = (tw + 1) * m + m * (tw + 1) + a * a * tw;
    const long output = m * a * tw + m * tw + tw * m;
    return (input > output ? input : output) + 64;
}

AI void weights_impl(const int m, const float *g, int cout, int cin, int co0, int co1, float *u) {
    const int a = m + 2;
    enum { B = 64 };
    double t[6][3][B];  // G g for a block of input channels, in double: 1/6 and 1/24 are not exact in float
    for (int co = co0; co < co1; co++) {
        const float *k = g + (long)co * cin * 9;
        for (int c0 = 0; c0 < cin; c0 += B) {
            const int nb = cin - c0 < B ? cin - c0 : B;
            for (int i = 0; i < a; i++)
                for (int q = 0; q < 3; q++)
                    for (int c = 0; c < nb; c++) {
                        const float *kc = k + (long)(c0 + c) * 9;
                        t[i][q][c] = gm(m, i, 0) * kc[q] + gm(m, i, 1) * kc[3 + q] + gm(m, i, 2) * kc[6 + q];
                    }
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    float *restrict dst = u + ((long)(i * a + j) * cout + co) * cin + c0;
                    for (int c = 0; c < nb; c++)  // rounded to float once
                        dst[c] = (float)(t[i][0][c] * gm(m, j, 0) + t[i][1][c] * gm(m, j, 1) + t[i][2][c] * gm(m, j, 2));
                }
        }
    }
}


// Σ_j coef(r, j) · src_j[t] with the zero coefficients dropped at compile time (m and the matrices are constants
// once inlined). src_j = base + off(j).
#define DOT_TERMS(M, N, COEF, R, SRC_J, OUT)                                 \
    do {                                                                     \
        float acc_ = 0;                                                      \
        for (int j_ = 0; j_ < (N); j_++)                                     \
            if (COEF(M, R, j_) != 0) acc_ += COEF(M, R, j_) * (SRC_J(j_));   \
        OUT = acc_;                                                          \
    } while (0)

AI void input_impl(const int m, const float *x, int cin, int h, int w, int ty0, int ty1, float *v, long ldv,
                   float *work) {
    const int a = m + 2, tw = unclip_winograd_tiles(w, m), len = (tw + 1) * m;
    float *restrict row = work;                  // [len]: row[j] = x[y][j − 1], zero outside
    float *restrict q = row + len;               // [m][tw + 1]: q[p][t] = row[t·m + p]
    float *restrict r = q + m * (tw + 1);        // [a (input row i)][a (k)][tw]: the row pass
    const int qs = tw + 1;
    for (int c = 0; c < cin; c++) {
        const float *xc = x + (long)c * h * w;
        for (int ty = ty0; ty < ty1; ty++) {
            for (int i = 0; i < a; i++) {
                const int y = ty * m - 1 + i;
                float *ri = r + (long)i * a * tw;
                if (y < 0 || y >= h) {
                    memset(ri, 0, sizeof(float) * a * tw);
                    continue;
                }
                row[0] = 0;
                memcpy(row + 1, xc + (long)y * w, sizeof(float) * w);
                memset(row + 1 + w, 0, sizeof(float) * (len - 1 - w));
                for (int t = 0; t <= tw; t++)
                    for (int p = 0; p < m; p++) q[p * qs + t] = row[t * m + p];
                for (int k = 0; k < a; k++) {
                    float *dst = ri + k * tw;
                    for (int t = 0; t < tw; t++) {
#define ROW_TAP(j) q[((j) % m) * qs + (j) / m + t]
                        DOT_TERMS(m, a, bt, k, ROW_TAP, dst[t]);
#undef ROW_TAP
                    }
                }
            }
            const long col0 = (long)(ty - ty0) * tw;
            for (int l = 0; l < a; l++) {
                for (int k = 0; k < a; k++) {
                    float *restrict dst = v + ((long)(l * a + k) * cin + c) * ldv + col0;
                    for (int t = 0; t < tw; t++) {
#define COL_TAP(i) r[((long)(i) * a + k) * tw + t]
                        DOT_TERMS(m, a, bt, l, COL_TAP, dst[t]);
#undef COL_TAP
                    }
                }
            }
        }
    }
}

AI void output_impl(const int m, const float *mt, long ldm, int cout, int h, int w, int ty0, int ty1,
                    const float *bias, float *y, float *work) {
    const int a = m + 2, tw = unclip_winograd_tiles(w, m);
    float *restrict s = work;                    // [m (output row)][a (k)][tw]: Aᵀ applied down the columns
    float *restrict z = s + (long)m * a * tw;    // [m (output column)][tw]
    float *restrict orow = z + (long)m * tw;     // [tw·m]: one output row, interleaved back
    for (int o = 0; o < cout; o++) {
        const float b0 = bias ? bias[o] : 0.0f;
        float *yo = y + (long)o * h * w;
        for (int ty = ty0; ty < ty1; ty++) {
            const long col0 = (long)(ty - ty0) * tw;
            for (int i = 0; i < m; i++) {
                for (int k = 0; k < a; k++) {
                    float *dst = s + ((long)i * a + k) * tw;
                    for (int t = 0; t < tw; t++) {
#define M_TAP(l) mt[((long)(l) * a + k) * cout * ldm + (long)o * ldm + col0 + t]
                        DOT_TERMS(m, a, at, i, M_TAP, dst[t]);
#undef M_TAP
                    }
                }
            }
            for (int i = 0; i < m; i++) {
                const int yy = ty * m + i;
                if (yy >= h) break;
                const float *si = s + (long)i * a * tw;
                for (int b = 0; b < m; b++) {
                    float *zb = z + (long)b * tw;
                    for (int t = 0; t < tw; t++) {
#define S_TAP(k) si[(long)(k) * tw + t]
                        DOT_TERMS(m, a, at, b, S_TAP, zb[t]);
#undef S_TAP
                        zb[t] += b0;
                    }
                }
                for (int t = 0; t < tw; t++)
                    for (int b = 0; b < m; b++) orow[t * m + b] = z[(long)b * tw + t];
                memcpy(yo + (long)yy * w, orow, sizeof(float) * w);
            }
        }
    }
}

// One copy of each transform per instruction set, chosen per call from the CPU's features (not by ifunc /
// target_clones: their resolvers run before a sanitizer runtime is up, and ThreadSanitizer builds crash at load).
#define VARIANTS(SUFFIX, ATTR)                                                                                      \
    ATTR static void weights_##SUFFIX(int m, const float *g, int cout, int cin, int co0, int co1, float *u) {      \
        if (m == 2) weights_impl(2, g, cout, cin, co0, co1, u);                                                    \
        else weights_impl(4, g, cout, cin, co0, co1, u);                                                           \
    }                                                                                                               \
    ATTR static void input_##SUFFIX(int m, const float *x, int cin, int h, int w, int ty0, int ty1, float *v,       \
                                    long ldv, float *work) {                                                        \
        if (m == 2) input_impl(2, x, cin, h, w, ty0, ty1, v, ldv, work);                                           \
        else input_impl(4, x, cin, h, w, ty0, ty1, v, ldv, work);                                                  \
    }                                                                                                               \
    ATTR static void output_##SUFFIX(int m, const float *mt, long ldm, int cout, int h, int w, int ty0, int ty1,    \
                                     const float *bias, float *y, float *work) {                                    \
        if (m == 2) output_impl(2, mt, ldm, cout, h, w, ty0, ty1, bias, y, work);                                  \
        else output_impl(4, mt, ldm, cout, h, w, ty0, ty1, bias, y, work);                                         \
    }

VARIANTS(generic, )
#if defined(__x86_64__)
VARIANTS(avx2, __attribute__((target("avx2,fma"))))
VARIANTS(avx512, __attribute__((target("avx512f,fma"))))
// 2: AVX-512, 1: AVX2+FMA, 0: baseline. __builtin_cpu_supports also checks that the OS saves the registers.
static int isa(void) {
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}
#define DISPATCH(NAME, ...)                           \
    switch (isa()) {                                  \
    case 2: NAME##_avx512(__VA_ARGS__); return;       \
    case 1: NAME##_avx2(__VA_ARGS__); return;         \
    default: NAME##_generic(__VA_ARGS__); return;     \
    }
#else
#define DISPATCH(NAME, ...) NAME##_generic(__VA_ARGS__)
#endif

void unclip_winograd_weights(int m, const float *g, int cout, int cin, int co0, int co1, float *u) {
    DISPATCH(weights, m, g, cout, cin, co0, co1, u);
}

void unclip_winograd_input(int m, const float *x, int cin, int h, int w, int ty0, int ty1, float *v, long ldv,
                           float *work) {
    DISPATCH(input, m, x, cin, h, w, ty0, ty1, v, ldv, work);
}

void unclip_winograd_output(int m, const float *mt, long ldm, int cout, int h, int w, int ty0, int ty1,
                            const float *bias, float *y, float *work) {
    DISPATCH(output, m, mt, ldm, cout, h, w, ty0, ty1, bias, y, work);
}
