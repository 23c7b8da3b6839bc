// Mirrors what OpenBLAS ≥ 0.3.28 does in driver/others/dynamic.c for CPUs that 0.3.21 does not know
// (Zen 4/5, Sapphire/Emerald Rapids): choose the kernel family from CPUID features, not from the model
// number. Symbols are looked up with dlsym, so a non-dynamic OpenBLAS build simply keeps its kernels.
#define _GNU_SOURCE
#include "blas_tune.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#ifndef UNCLIP_TARGET_CPU
#define UNCLIP_TARGET_CPU "unknown"
#endif

const char *unclip_build_target_cpu(void) { return UNCLIP_TARGET_CPU; }

unclip_cpu_features unclip_cpu_features_read(void) {
    unclip_cpu_features f;
    memset(&f, 0, sizeof f);
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!((c >> 27) & 1)) return f;  // OSXSAVE: without it XGETBV faults and no AVX state is enabled
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    int os_ymm = (lo & 0x6) == 0x6;       // XMM, YMM
    int os_zmm = (lo & 0xE6) == 0xE6;     // + opmask, ZMM_Hi256, Hi16_ZMM
    int os_tile = (lo & 0x60000) == 0x60000;  // XTILECFG (17), XTILEDATA (18)
    unsigned max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned b7 = b, c7 = c, d7 = d;
    unsigned need512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F, DQ, CD, BW, VL
    f.f16c = f16c && os_ymm;
    f.avx2_fma = os_ymm && fma && ((b7 >> 5) & 1);
    f.avx512 = os_zmm && (b7 & need512) == need512;
    f.avx512_vnni = f.avx512 && ((c7 >> 11) & 1);
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = f.avx512 && ((a >> 5) & 1);
    int amx_tile = (d7 >> 24) & 1, amx_bf16 = (d7 >> 22) & 1;
    if (amx_tile && amx_bf16 && os_tile && max_leaf >= 0x1D) {
        __cpuid_count(0x1D, 0, a, b, c, d);
        f.amx_bf16 = a >= 1;  // a hypervisor may advertise AMX with zero palettes: then every tile op faults
    }
#endif
    return f;
}

const char *unclip_blas_core(void) {
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "gotoblas_corename");
    if (!corename) return "unknown";
    return corename();
}

const char *unclip_blas_core_for_cpu(void) {
    unclip_cpu_features f = unclip_cpu_features_read();
    if (f.avx512) return "SkylakeX";
    if (f.avx2_fma) return "Haswell";
    return NULL;
}

// Cooperlake = the SkylakeX sgemm kernels + vdpbf16ps sbgemm; Zen = the Haswell kernels.
static int is_avx512_family(const char *core) {
    return strcasecmp(core, "SkylakeX") == 0 || strcasecmp(core, "Cooperlake") == 0
        || strcasecmp(core, "SapphireRapids") == 0;
}
static int is_avx2_family(const char *core) {
    return strcasecmp(core, "Haswell") == 0 || strcasecmp(core, "Zen") == 0;
}

int unclip_blas_core_runs_on_cpu(const char *core) {
    unclip_cpu_features f = unclip_cpu_features_read();
    if (strcasecmp(core, "Cooperlake") == 0) return f.avx512_bf16;
    if (strcasecmp(core, "SapphireRapids") == 0) return f.avx512_bf16 && f.amx_bf16;
    if (is_avx512_family(core)) return f.avx512;
    if (is_avx2_family(core)) return f.avx2_fma;
    return 1;  // the older families (Prescott, Nehalem, Sandybridge…) run on any x86-64 CPU we target
}

int unclip_blas_core_fits_cpu(const char *core) {
    unclip_cpu_features f = unclip_cpu_features_read();
    if (!unclip_blas_core_runs_on_cpu(core)) return 0;
    if (f.avx512) return is_avx512_family(core);
    if (f.avx2_fma) return is_avx2_family(core);
    return 1;  // nothing better to offer: OpenBLAS's choice stands
}

static int force_core(const char *name) {
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init) return -1;
    if (!unclip_blas_core_runs_on_cpu(name)) return -1;  // would die of an illegal instruction later
    const char *old = getenv("OPENBLAS_CORETYPE");
    char *saved = old ? strdup(old) : NULL;
    setenv("OPENBLAS_CORETYPE", name, 1);
    quit();
    init();  // re-reads OPENBLAS_CORETYPE and re-initialises the blocking parameters
    if (saved) { setenv("OPENBLAS_CORETYPE", saved, 1); free(saved); } else unsetenv("OPENBLAS_CORETYPE");
    return strcasecmp(unclip_blas_core(), name) == 0 ? 1 : -1;
}

int unclip_blas_select(const char *policy) {
    if (!policy || strcmp(policy, "inherit") == 0) return 0;
    if (strcmp(policy, "auto") == 0) {
        const char *want = unclip_blas_core_for_cpu();
        if (!want || unclip_blas_core_fits_cpu(unclip_blas_core())) return 0;
        if (!dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init")) return 0;  // a single-target build keeps its kernels
        return force_core(want);
    }
    if (strcasecmp(unclip_blas_core(), policy) == 0) return 0;
    return force_core(policy);
}
