// Winograd minimal filtering F(m×m, 3×3) for 3×3, stride-1, padding-1 convolutions (Lavin & Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016; the transforms NNPACK and oneDNN's avx512 Winograd use):
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A   per tile of m×m outputs, from an α×α input patch (α = m + 2).
// The elementwise products over channels become α² independent GEMMs, which OpenBLAS or the bf16 kernel runs:
//   M[ξ] (cout × tiles) = U[ξ] (cout × cin) · V[ξ] (cin × tiles),  ξ < α².
// These functions are the transforms around those GEMMs; the caller owns threading and scratch. `m` (the output tile
// side) is 2 for F(2×2, 3×3) (α = 4) or 4 for F(4×4, 3×3) (α = 6).
#ifndef UNCLIP_WINOGRAD_H
#define UNCLIP_WINOGRAD_H

/// Tiles along one side of an `n`-pixel plane: ceil(n / m).
static inline int unclip_winograd_tiles(int n, int m) { return (n + m - 1) / m; }

/// Floats of work memory the input or output transform needs for a plane `w` pixels wide.
long unclip_winograd_work_floats(int m, int w);

/// Weight transform U = G g Gᵀ for output channels [co0, co1): `g` is PyTorch's `[cout][cin][3][3]`,
/// `u` is `[α²][cout][cin]`.
void unclip_winograd_weights(int m, const float *g, int cout, int cin, int co0, int co1, float *u);

/// Input transform V = Bᵀ d B of the tile rows [ty0, ty1) of one image `x` `[cin][h][w]` (zero padding of 1):
/// `v` is `[α²][cin][ldv]`, tile `(ty, tx)` in column `(ty − ty0) · tiles(w) + tx`. `work`: see above.
void unclip_winograd_input(int m, const float *x, int cin, int h, int w, int ty0, int ty1,
                           float *v, long ldv, float *work);

/// Output transform Y = Aᵀ M A of the same tile rows: `mt` is `[α²][cout][ldm]` (the GEMMs' result), `y` the
/// image's `[cout][h][w]` output (rows past `h` and columns past `w` are not written); adds `bias[co]` when given.
void unclip_winograd_output(int m, const float *mt, long ldm, int cout, int h, int w, int ty0, int ty1,
                            const float *bias, float *y, float *work);

#endif
