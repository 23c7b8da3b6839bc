// bf16 conversion and VNNI-2 packing (oneDNN's `OIhw16i16o2i` idea: K pairs side by side in 32-bit lanes);
// the vector conversion is VCVTNE2PS2BF16 (`_mm512_cvtne2ps_pbh(hi, lo)` fills the low lanes from `lo`).
#include "bf16_kernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define BF16_TARGET
#endif

uint16_t unclip_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);           // ±0 and denormals → ±0
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN stays (quiet) NaN
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                     // nearest even
}

float unclip_f32_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static inline uint32_t pair_of(float lo, float hi) {
    return (uint32_t)unclip_bf16_from_f32(lo) | ((uint32_t)unclip_bf16_from_f32(hi) << 16);
}

size_t unclip_bf16_panels_size(int rows, int k, int width) {
    size_t panels = (size_t)((rows + width - 1) / width);
    return panels * (size_t)unclip_bf16_kpairs(k) * (size_t)width;
}

#if defined(__x86_64__)
/// 32 floats (`lo` 16, `hi` 16) → 16 pairs (lo[i], hi[i]) as 32-bit lanes.
BF16_TARGET static inline __m512i interleave_pairs(__m512 lo, __m512 hi) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // words 0-15 = lo, 16-31 = hi
    return _mm512_permutexvar_epi16(idx, v);
}

/// 32 consecutive floats (pairs (x[2i], x[2i+1])) → 16 pairs: the conversion keeps the order.
BF16_TARGET static inline __m512i row_pairs(const float *x, __mmask16 m0, __mmask16 m1) {
    __m512 a = _mm512_maskz_loadu_ps(m0, x), b = _mm512_maskz_loadu_ps(m1, x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(b, a);
}
#endif

BF16_TARGET void unclip_bf16_pack_rows(const float *src, long ld, int rows, int k, int width, uint32_t *out) {
    const int kp = unclip_bf16_kpairs(k);
    // Every pair of rows < `rows` is written below (the odd-K pad by the masked load); only the last panel's
    // missing rows need zeros.
    for (int r = rows; r % width != 0; r++) {
        uint32_t *dst = out + ((size_t)(r / width) * kp) * width + (r % width);
        for (int p = 0; p < kp; p++) dst[(size_t)p * width] = 0;
    }
    for (int r = 0; r < rows; r++) {
        const float *row = src + (size_t)r * ld;
        uint32_t *dst = out + ((size_t)(r / width) * kp) * width + (r % width);
        int p = 0;
#if defined(__x86_64__)
        uint32_t tmp[16];
        for (; p < kp; p += 16) {
            int left = k - 2 * p;  // floats left in this row
            __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            _mm512_storeu_si512(tmp, row_pairs(row + 2 * p, m0, m1));
            int n = kp - p < 16 ? kp - p : 16;
            for (int i = 0; i < n; i++) dst[(size_t)(p + i) * width] = tmp[i];
        }
#else
        for (; p < kp; p++) dst[(size_t)p * width] = pair_of(row[2 * p], 2 * p + 1 < k ? row[2 * p + 1] : 0);
#endif
    }
}

BF16_TARGET void unclip_bf16_pack_cols(const float *src, long ld, int k, int n, uint32_t *out) {
    const int kp = unclip_bf16_kpairs(k), nr = UNCLIP_BF16_NR;
    const int panels = (n + nr - 1) / nr;
    for (int j = 0; j < panels; j++) {
        const int c0 = j * nr, cols = n - c0 < nr ? n - c0 : nr;
        uint32_t *dst = out + (size_t)j * kp * nr;
#if defined(__x86_64__)
        const __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
        const __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
        for (int p = 0; p < kp; p++) {
            const float *r0 = src + (size_t)(2 * p) * ld + c0;
            const int has1 = 2 * p + 1 < k;
            const float *r1 = r0 + ld;
            __m512 lo0 = _mm512_maskz_loadu_ps(m0, r0), lo1 = _mm512_maskz_loadu_ps(m1, r0 + 16);
            __m512 hi0 = has1 ? _mm512_maskz_loadu_ps(m0, r1) : _mm512_setzero_ps();
            __m512 hi1 = has1 ? _mm512_maskz_loadu_ps(m1, r1 + 16) : _mm512_setzero_ps();
            _mm512_storeu_si512(dst + (size_t)p * nr, interleave_pairs(lo0, hi0));
            _mm512_storeu_si512(dst + (size_t)p * nr + 16, interleave_pairs(lo1, hi1));
        }
#else
        for (int p = 0; p < kp; p++)
            for (int c = 0; c < nr; c++) {
                float lo = c < cols ? src[(size_t)(2 * p) * ld + c0 + c] : 0;
                float hi = (c < cols && 2 * p + 1 < k) ? src[(size_t)(2 * p + 1) * ld + c0 + c] : 0;
                dst[(size_t)p * nr + c] = pair_of(lo, hi);
            }
#endif
    }
}

void unclip_bf16_unpack_rows(const uint32_t *packed, int rows, int k, int width, int r0, int r1, float *dst, long ld) {
    const int kp = unclip_bf16_kpairs(k);
    for (int r = r0; r < r1 && r < rows; r++) {
        const uint32_t *src = packed + ((size_t)(r / width) * kp) * width + (r % width);
        float *row = dst + (size_t)(r - r0) * ld;
        for (int p = 0; p < kp; p++) {
            uint32_t pair = src[(size_t)p * width];
            row[2 * p] = unclip_f32_from_bf16((uint16_t)(pair & 0xffffu));
            if (2 * p + 1 < k) row[2 * p + 1] = unclip_f32_from_bf16((uint16_t)(pair >> 16));
        }
    }
}

void unclip_bf16_gemm_reference(int m, int n, int k, const float *a, long lda, const float *b, long ldb,
                                float *c, long ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++)
                acc += (double)unclip_f32_from_bf16(unclip_bf16_from_f32(a[(size_t)i * lda + p])) *
                       (double)unclip_f32_from_bf16(unclip_bf16_from_f32(b[(size_t)p * ldb + j]));
            float *y = c + (size_t)i * ldc + j;
            *y = (float)((accumulate ? (double)*y : 0.0) + acc);
        }
}
