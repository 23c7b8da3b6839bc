// OpenBLAS kernel choice from the CPU's own features, for CPUs that Debian's OpenBLAS 0.3.21 mis-detects.
#ifndef UNCLIP_BLAS_TUNE_H
#define UNCLIP_BLAS_TUNE_H

/// What the CPU offers and the OS has enabled (each field 0 or 1). An instruction set counts only when
/// CPUID reports it *and* XGETBV shows the OS saves its registers.
typedef struct {
    int avx2_fma;      ///< AVX2 + FMA3 (+ OS YMM state): OpenBLAS's Haswell kernels
    int f16c;          ///< F16C half↔float conversion
    int avx512;        ///< AVX-512 F, CD, BW, DQ, VL (+ OS opmask/ZMM state): OpenBLAS's SkylakeX kernels
    int avx512_vnni;   ///< AVX512-VNNI
    int avx512_bf16;   ///< AVX512-BF16 (vdpbf16ps), CPUID(7,1).EAX bit 5
    int amx_bf16;      ///< AMX-TILE + AMX-BF16 in CPUID, tile state in XCR0 and a non-zero palette (CPUID 0x1D)
} unclip_cpu_features;

/// Reads the CPU's features (CPUID + XGETBV). All zero on non-x86 machines.
unclip_cpu_features unclip_cpu_features_read(void);

/// The OpenBLAS core in use ("Haswell", "SkylakeX", …), or "unknown".
const char *unclip_blas_core(void);

/// The OpenBLAS core this CPU should run, from its features alone: "SkylakeX" with the AVX-512 subset,
/// "Haswell" with AVX2+FMA, NULL when neither (OpenBLAS's own choice is then kept).
const char *unclip_blas_core_for_cpu(void);

/// Whether this CPU can run `core`'s kernels (SkylakeX needs the AVX-512 subset, Haswell AVX2+FMA…).
int unclip_blas_core_runs_on_cpu(const char *core);

/// Whether `core` (an OpenBLAS core name) is the right family for this CPU: its kernels run here
/// and no wider family does. Cores of other families (Prescott, Sandybridge, …) are right only on
/// CPUs without AVX2.
int unclip_blas_core_fits_cpu(const char *core);

/// Selects OpenBLAS's kernel family (DYNAMIC_ARCH builds) by `policy`:
///  - "auto": if the core OpenBLAS runs (its own guess, or an inherited OPENBLAS_CORETYPE) is not the
///    right family for this CPU (`unclip_blas_core_fits_cpu`), switch to `unclip_blas_core_for_cpu()`.
///    0.3.21 picks Prescott on CPUs it does not know (Emerald Rapids) and Haswell/Zen on others (Zen 4/5);
///  - "inherit": keep what OpenBLAS chose (it honours OPENBLAS_CORETYPE);
///  - a core name ("SkylakeX", "Haswell", …): force that family; refused (-1) if the CPU cannot run it.
/// Call once, before any BLAS call is in flight. Returns 1 if it switched, 0 if not, -1 if it could not.
int unclip_blas_select(const char *policy);

/// The CPU target the engine's own (Swift) loops were compiled for, e.g. "haswell".
const char *unclip_build_target_cpu(void);
#endif
