// OpenBLAS kernel selection fix-up for CPUs that Debian's OpenBLAS 0.3.21 under-detects.
#ifndef UNCLIP_BLAS_TUNE_H
#define UNCLIP_BLAS_TUNE_H

/// Whether the CPU and OS support the AVX-512 subset OpenBLAS's SkylakeX kernels use (F, CD, BW, DQ, VL).
int unclip_cpu_has_avx512(void);

/// The OpenBLAS core in use ("Haswell", "SkylakeX", …), or "unknown".
const char *unclip_blas_core(void);

/// Selects OpenBLAS's kernel family (DYNAMIC_ARCH builds) by `policy`:
///  - "auto": if the CPU has AVX-512 and OpenBLAS runs an AVX2-only family (Haswell or Zen — 0.3.21 does
///    not know AMD Zen 4/5 or Intel Emerald Rapids, and an inherited OPENBLAS_CORETYPE may force one),
///    switch to SkylakeX;
///  - "inherit": keep what OpenBLAS chose (it honours OPENBLAS_CORETYPE);
///  - a core name ("SkylakeX", "Haswell", …): force that family.
/// Call once, before any BLAS call is in flight. Returns 1 if it switched, 0 if not, -1 if it could not.
int unclip_blas_select(const char *policy);
#endif
