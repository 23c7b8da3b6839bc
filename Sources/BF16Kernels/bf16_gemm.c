// bf16 GEMM micro-kernel and blocking on AVX512-BF16 (vdpbf16ps), after oneDNN's brgemm avx512_core_bf16 and
// GotoBLAS's loop order: K blocks outermost (a B panel slice stays in L1), then A row blocks (in L2), then panels.
#include "bf16_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define BF16_TARGET
#endif

/// K pairs per block: a B panel slice is KC · 32 · 4 bytes = 16 KB (half of a 32 KB L1d).
#define KC 128
/// A panels per row block: 24 · 14 rows · KC pairs · 4 bytes = 168 KB (in L2).
#define MCP 24

#if defined(__x86_64__)
/// `mr` rows (≤ MR) × 32 columns (`m0`/`m1` mask the last panel's columns) over `kc` pairs.
BF16_TARGET static inline __attribute__((always_inline))
void kernel(const int mr, int kc, const uint32_t *a, const uint32_t *b, float *c, long ldc,
            __mmask16 m0, __mmask16 m1, int first) {
    __m512 acc0[UNCLIP_BF16_MR], acc1[UNCLIP_BF16_MR];
    for (int r = 0; r < mr; r++) {
        if (first) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
        else { acc0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc); acc1[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16); }
    }
    for (int p = 0; p < kc; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + p * UNCLIP_BF16_NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + p * UNCLIP_BF16_NR + 16);
        const uint32_t *ap = a + p * UNCLIP_BF16_MR;
        for (int r = 0; r < mr; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
    }
}

#define KERNEL_CASE(R) case R: kernel(R, kc, a, b, c, ldc, m0, m1, first); break;
BF16_TARGET static void kernel_rows(int mr, int kc, const uint32_t *a, const uint32_t *b, float *c, long ldc,
                                    __mmask16 m0, __mmask16 m1, int first) {
    switch (mr) {
        KERNEL_CASE(1) KERNEL_CASE(2) KERNEL_CASE(3) KERNEL_CASE(4) KERNEL_CASE(5) KERNEL_CASE(6) KERNEL_CASE(7)
        KERNEL_CASE(8) KERNEL_CASE(9) KERNEL_CASE(10) KERNEL_CASE(11) KERNEL_CASE(12) KERNEL_CASE(13)
        default: kernel(UNCLIP_BF16_MR, kc, a, b, c, ldc, m0, m1, first); break;
    }
}
#else
static void kernel_rows(int mr, int kc, const uint32_t *a, const uint32_t *b, float *c, long ldc,
                        int cols, int first) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < cols; j++) {
            float acc = first ? 0 : c[r * ldc + j];
            for (int p = 0; p < kc; p++) {
                uint32_t x = a[p * UNCLIP_BF16_MR + r], y = b[p * UNCLIP_BF16_NR + j];
                acc += unclip_f32_from_bf16((uint16_t)x) * unclip_f32_from_bf16((uint16_t)y);
                acc += unclip_f32_from_bf16((uint16_t)(x >> 16)) * unclip_f32_from_bf16((uint16_t)(y >> 16));
            }
            c[r * ldc + j] = acc;
        }
}
#endif

BF16_TARGET void unclip_bf16_gemm(int m, int n, int k, const uint32_t *a_packed, const uint32_t *b_packed,
                                  float *c, long ldc, int accumulate, int panel_begin, int panel_end) {
    const int kp = unclip_bf16_kpairs(k), mr_full = UNCLIP_BF16_MR, nr = UNCLIP_BF16_NR;
    const int mpanels = (m + mr_full - 1) / mr_full;
    if (m <= 0 || n <= 0 || panel_end <= panel_begin) return;
    if (kp == 0) {
        if (!accumulate)
            for (int i = 0; i < m; i++)
                for (int j = panel_begin * nr; j < n && j < panel_end * nr; j++) c[(size_t)i * ldc + j] = 0;
        return;
    }
    for (int pc = 0; pc < kp; pc += KC) {
        const int kc = kp - pc < KC ? kp - pc : KC;
        const int first = pc == 0 && !accumulate;
        for (int mi0 = 0; mi0 < mpanels; mi0 += MCP) {
            const int mi1 = mi0 + MCP < mpanels ? mi0 + MCP : mpanels;
            for (int pj = panel_begin; pj < panel_end; pj++) {
                const int cols = n - pj * nr < nr ? n - pj * nr : nr;
                if (cols <= 0) break;
                const uint32_t *bp = b_packed + ((size_t)pj * kp + pc) * nr;
#if defined(__x86_64__)
                const __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
                const __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
#endif
                for (int mi = mi0; mi < mi1; mi++) {
                    const int mr = m - mi * mr_full < mr_full ? m - mi * mr_full : mr_full;
                    const uint32_t *ap = a_packed + ((size_t)mi * kp + pc) * mr_full;
                    float *cp = c + (size_t)mi * mr_full * ldc + (size_t)pj * nr;
#if defined(__x86_64__)
                    kernel_rows(mr, kc, ap, bp, cp, ldc, m0, m1, first);
#else
                    kernel_rows(mr, kc, ap, bp, cp, ldc, cols, first);
#endif
                }
            }
        }
    }
}

BF16_TARGET double unclip_bf16_peak_probe(long iterations) {
#if defined(__x86_64__)
    // 12 independent accumulators hide vdpbf16ps latency; the asm barrier keeps each one live in a register.
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x00010001);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) {
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
            __asm__ volatile("" : "+v"(acc[i]));
        }
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(acc[i]);
    __asm__ volatile("" ::"x"(sink));
    return (double)iterations * 12 * 64;
#else
    (void)iterations;
    return 0;
#endif
}
