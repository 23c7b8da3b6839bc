// bf16 GEMM with fp32 accumulation on AVX512-BF16 (vdpbf16ps), after oneDNN's brgemm avx512_core_bf16 layout:
// the broadcast operand A and the vector operand B hold bf16 *pairs* along K (VNNI-2), packed into panels.
#ifndef UNCLIP_BF16_KERNELS_H
#define UNCLIP_BF16_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Rows of A per micro-kernel (14 rows × 2 vectors = 28 fp32 accumulators of the 32 zmm registers).
#define UNCLIP_BF16_MR 14
/// Columns of B per panel (two 16-lane vectors).
#define UNCLIP_BF16_NR 32

/// fp32 → bf16 as VCVTNEPS2BF16 does it: round to nearest even, denormal inputs to (signed) zero, NaN stays NaN.
uint16_t unclip_bf16_from_f32(float x);
/// bf16 → fp32 (exact).
float unclip_f32_from_bf16(uint16_t h);

/// `ceil(k / 2)`: the K dimension in bf16 pairs (an odd K is padded with a zero).
static inline int unclip_bf16_kpairs(int k) { return (k + 1) / 2; }

/// 32-bit words of a packed matrix of `rows` rows of K = `k`, in panels of `width` rows:
/// `ceil(rows / width) · kpairs · width`.
size_t unclip_bf16_panels_size(int rows, int k, int width);

/// Packs a row-major fp32 matrix `src[rows][k]` (leading dimension `ld`) into panels of `width` rows of bf16 pairs:
/// `out[(panel · kpairs + p) · width + r] = (bf16(src[panel·width + r][2p]), bf16(src[…][2p + 1]))`, low half first;
/// rows past `rows` and the pad of an odd K are zero. A with width `UNCLIP_BF16_MR`, or B = Wᵀ from a PyTorch
/// weight `[n][k]` with width `UNCLIP_BF16_NR`. Needs AVX512-BF16.
void unclip_bf16_pack_rows(const float *src, long ld, int rows, int k, int width, uint32_t *out);

/// Packs B from a `[k][n]` fp32 matrix (leading dimension `ld`; im2col columns, a 1×1 convolution's input) into
/// panels of `UNCLIP_BF16_NR` columns: `out[(j · kpairs + p) · NR + c] = (bf16(src[2p][32j + c]), bf16(src[2p+1][32j + c]))`.
/// Needs AVX512-BF16.
void unclip_bf16_pack_cols(const float *src, long ld, int k, int n, uint32_t *out);

/// Unpacks rows `[r0, r1)` of a matrix packed by `unclip_bf16_pack_rows` (`rows × k`, panels of `width`) back to
/// fp32 (exactly: the bf16 values widened) into `dst[r − r0][0..<k]` (leading dimension `ld`).
/// The bf16 Winograd path rebuilds a convolution's rounded weights from its packed copy this way.
void unclip_bf16_unpack_rows(const uint32_t *packed, int rows, int k, int width, int r0, int r1, float *dst, long ld);

/// `C[m][n] = (accumulate ? C : 0) + A·B` for B panels `panel_begin..<panel_end` (columns `32·panel_begin ..<
/// min(n, 32·panel_end)`), A packed by `unclip_bf16_pack_rows` (width MR), B by either packer (width NR), both
/// over the same K. Sums in fp32 in a fixed order (K blocks, then pairs) that does not depend on the panel range,
/// so splitting panels across threads gives the same bytes. Needs AVX512-BF16.
void unclip_bf16_gemm(int m, int n, int k, const uint32_t *a_packed, const uint32_t *b_packed,
                      float *c, long ldc, int accumulate, int panel_begin, int panel_end);

/// Naive reference: `C[m][n] = (accumulate ? C : 0) + Σ_k bf16(A[i][k])·bf16(B[k][j])` in double, A `[m][k]` (lda),
/// B `[k][n]` (ldb) fp32, rounded with `unclip_bf16_from_f32`. For tests.
void unclip_bf16_gemm_reference(int m, int n, int k, const float *a, long lda, const float *b, long ldb,
                                float *c, long ldc, int accumulate);

/// Register-resident `vdpbf16ps` loop (no memory traffic): the FLOPs it performed (`iterations · 12 · 64`), for the
/// machine's bf16 peak in `bench ops`. Needs AVX512-BF16.
double unclip_bf16_peak_probe(long iterations);
#endif
