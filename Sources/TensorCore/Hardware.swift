// What the CPU offers and which kernels the engine runs on it (after OpenBLAS ≥ 0.3.28's dynamic.c choice).
import BLASTune
import Foundation

/// The CPU's features, OpenBLAS's kernel family (as OpenBLAS detected it and as chosen for this CPU) and
/// the target the engine's own loops were compiled for. Built once per process, on first use, which is
/// also when the OpenBLAS core is chosen (`UNCLIP_BLAS_CORE`, default `auto`).
public struct Hardware: Sendable, Equatable {
    /// Instruction sets the CPU reports and the OS has enabled.
    public struct Features: Sendable, Equatable {
        public var avx2FMA: Bool, f16c: Bool, avx512: Bool, avx512VNNI: Bool, avx512BF16: Bool, amxBF16: Bool

        /// Reads CPUID and XGETBV.
        public static func read() -> Features {
            let f = unclip_cpu_features_read()
            return Features(avx2FMA: f.avx2_fma != 0, f16c: f.f16c != 0, avx512: f.avx512 != 0,
                            avx512VNNI: f.avx512_vnni != 0, avx512BF16: f.avx512_bf16 != 0, amxBF16: f.amx_bf16 != 0)
        }

        /// Names of the present features, widest last: `["avx2+fma", "f16c", "avx512", …]`.
        public var names: [String] {
            [(avx2FMA, "avx2+fma"), (f16c, "f16c"), (avx512, "avx512"), (avx512VNNI, "avx512-vnni"),
             (avx512BF16, "avx512-bf16"), (amxBF16, "amx-bf16")].filter(\.0).map(\.1)
        }
    }

    /// CPU features.
    public let features: Features
    /// The core OpenBLAS picked by itself (its model-number table, or an inherited `OPENBLAS_CORETYPE`).
    public let blasDetected: String
    /// The core in use after the policy was applied.
    public let blasCore: String
    /// `UNCLIP_BLAS_CORE`: `auto`, `inherit` or a core name.
    public let blasPolicy: String
    /// The core this CPU should run by its features ("SkylakeX", "Haswell"), nil when neither applies.
    public let blasCoreForCPU: String?
    /// Set when the policy could not be applied (e.g. a named core this CPU cannot run).
    public let warning: String?
    /// `-target-cpu` of the engine's Swift loops (Package.swift, `UNCLIP_TARGET_CPU`).
    public let buildTarget: String

    /// Applies `policy` to OpenBLAS and records what happened. Call once, before any BLAS call is in flight.
    static func select(policy: String) -> Hardware {
        let detected = String(cString: unclip_blas_core())
        let status = unclip_blas_select(policy)
        let core = String(cString: unclip_blas_core())
        let warning = status < 0
            ? "could not select OpenBLAS core '\(policy)' (unknown, not built into this OpenBLAS, or not runnable on this CPU); using \(core)"
            : nil
        return Hardware(features: .read(), blasDetected: detected, blasCore: core, blasPolicy: policy,
                        blasCoreForCPU: unclip_blas_core_for_cpu().map { String(cString: $0) }, warning: warning,
                        buildTarget: String(cString: unclip_build_target_cpu()))
    }

    /// One line for benchmark headers: the kernels in use and why.
    public var summary: String {
        var s = "OpenBLAS core \(blasCore)"
        if blasDetected.caseInsensitiveCompare(blasCore) != .orderedSame {
            s += " (OpenBLAS detected \(blasDetected); chosen from CPUID, UNCLIP_BLAS_CORE=\(blasPolicy))"
        } else if blasPolicy != "auto" {
            s += " (UNCLIP_BLAS_CORE=\(blasPolicy))"
        }
        s += "; engine loops: \(buildTarget); CPU: \(features.names.joined(separator: " "))"
        s += features.avx512BF16 ? "; bf16 kernels: avx512-bf16 vdpbf16ps" : "; bf16 kernels: none (no AVX512-BF16)"
        s += features.amxBF16 ? "; AMX: available, unused (no AMX kernel yet)" : "; AMX: not available"
        return s
    }

    /// The same as JSON-ready values (for `bench … --json` and reports).
    public var dictionary: [String: Any] {
        ["blas_core": blasCore, "blas_detected": blasDetected, "blas_policy": blasPolicy,
         "blas_core_for_cpu": blasCoreForCPU ?? NSNull(), "build_target": buildTarget,
         "cpu_features": features.names, "amx_in_use": false, "bf16_kernel": features.avx512BF16 ? "avx512-bf16" : NSNull()]
    }
}
