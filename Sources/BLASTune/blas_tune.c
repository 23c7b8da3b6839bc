// Mirrors what OpenBLAS ≥ 0.3.22/0.3.28 do for Zen 4/5 and Emerald Rapids in driver/others/dynamic.c:
// use the SKYLAKEX kernels when AVX-512 is present. Symbols are looked up with dlsym, so a non-dynamic
// OpenBLAS build simply keeps its kernels.
#define _GNU_SOURCE
#include "blas_tune.h"
#include <cpuid.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

int unclip_cpu_has_avx512(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;  // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    unsigned need = (1u << 16) | (1u << 28) | (1u << 30) | (1u << 17) | (1u << 31);  // F, CD, BW, DQ, VL
    return (b & need) == need;
#else
    return 0;
#endif
}

const char *unclip_blas_core(void) {
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "gotoblas_corename");
    if (!corename) return "unknown";
    return corename();
}

static int force_core(const char *name) {
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init) return -1;
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
        const char *core = unclip_blas_core();
        if (!unclip_cpu_has_avx512()) return 0;
        if (strcmp(core, "Haswell") != 0 && strcmp(core, "Zen") != 0) return 0;
        if (!dlsym(RTLD_DEFAULT, "gotoblas_SKYLAKEX")) return 0;
        return force_core("SkylakeX");
    }
    if (strcasecmp(unclip_blas_core(), policy) == 0) return 0;
    return force_core(policy);
}
