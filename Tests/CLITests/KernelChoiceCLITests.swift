// Issue #13, part 1: OpenBLAS's kernels are chosen from the CPU's features, whatever OpenBLAS guessed or an
// inherited OPENBLAS_CORETYPE forced; UNCLIP_BLAS_CORE overrides. Expected cores come from /proc/cpuinfo,
// the kernel's own reading of CPUID, not from the code under test.
import Foundation
import XCTest

final class KernelChoiceCLITests: XCTestCase {
    /// The family the CPU should run by /proc/cpuinfo's flags: SkylakeX with the AVX-512 subset OpenBLAS's
    /// SkylakeX kernels use, Haswell with AVX2+FMA, nil otherwise (then OpenBLAS's own choice stands).
    static func expectedCore() throws -> String? {
        let flags = try cpuFlags()
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    static func cpuFlags() throws -> Set<String> {
        #if !(os(Linux) && arch(x86_64))
        throw XCTSkip("needs Linux on x86-64 (/proc/cpuinfo flags)")
        #else
        let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("flags") })
        return Set(line.split(separator: ":", maxSplits: 1)[1].split(separator: " ").map(String.init))
        #endif
    }

    private func info(_ env: [String: String]) throws -> (json: [String: Any], err: String) {
        let r = try runCLI(["info", "--json"], env: env)
        XCTAssertEqual(r.status, 0, r.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        return (obj, r.err)
    }

    func testFeaturesMatchProcCpuinfo() throws {
        let flags = try Self.cpuFlags()
        let names = try XCTUnwrap(info(["UNCLIP_BLAS_CORE": "inherit"]).json["cpu_features"] as? [String])
        XCTAssertEqual(names.contains("avx512"), ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains), "\(names)")
        XCTAssertEqual(names.contains("avx2+fma"), flags.contains("avx2") && flags.contains("fma"), "\(names)")
        XCTAssertEqual(names.contains("avx512-bf16"), flags.contains("avx512_bf16"), "\(names)")
        XCTAssertEqual(names.contains("avx512-vnni"), flags.contains("avx512_vnni"), "\(names)")
        // AMX also needs a non-zero palette (CPUID 0x1D), which cpuinfo does not show: only one direction holds.
        if names.contains("amx-bf16") { XCTAssertTrue(flags.contains("amx_bf16") && flags.contains("amx_tile"), "\(names)") }
    }

    /// The generic and AVX2 cores OpenBLAS 0.3.21 falls back to (Prescott on Emerald Rapids, Zen/Haswell on
    /// Zen 4, or an inherited OPENBLAS_CORETYPE) are replaced by the CPU's own family.
    func testAutoReplacesAWrongGuess() throws {
        let expected = try Self.expectedCore()
        for guess in ["Prescott", "Haswell", "Zen", "Sandybridge"] {
            let (json, err) = try info(["OPENBLAS_CORETYPE": guess, "UNCLIP_BLAS_CORE": "auto"])
            XCTAssertEqual(json["blas_detected"] as? String, guess, err)
            let core = try XCTUnwrap(json["blas_core"] as? String)
            switch expected {
            case "SkylakeX": XCTAssertEqual(core, "SkylakeX", "inherited \(guess)")
            case "Haswell": XCTAssertEqual(core, ["Haswell", "Zen"].contains(guess) ? guess : "Haswell", "inherited \(guess)")
            default: XCTAssertEqual(core, guess)
            }
            XCTAssertFalse(err.contains("warning"), err)
        }
    }

    func testOverrides() throws {
        let kept = try info(["OPENBLAS_CORETYPE": "Prescott", "UNCLIP_BLAS_CORE": "inherit"]).json
        XCTAssertEqual(kept["blas_core"] as? String, "Prescott")
        let forced = try info(["OPENBLAS_CORETYPE": "Prescott", "UNCLIP_BLAS_CORE": "Nehalem"]).json
        XCTAssertEqual(forced["blas_core"] as? String, "Nehalem")
        let bogus = try info(["UNCLIP_BLAS_CORE": "NoSuchCore"])
        XCTAssertTrue(bogus.err.contains("warning: could not select OpenBLAS core 'NoSuchCore'"), bogus.err)
        if try Self.expectedCore() != "SkylakeX" {
            // A core this CPU cannot run is refused rather than dying of an illegal instruction later.
            let refused = try info(["UNCLIP_BLAS_CORE": "SkylakeX"])
            XCTAssertTrue(refused.err.contains("could not select OpenBLAS core 'SkylakeX'"), refused.err)
        }
    }

    /// Same pixels whatever OpenBLAS guessed: with an inherited Prescott the run uses the CPU's family and
    /// draws what the default environment draws (built-in weights, 64², a few steps).
    func testInheritedCoreTypeDoesNotChangeTheImage() throws {
        guard try Self.expectedCore() != nil else { throw XCTSkip("no AVX2: OpenBLAS's own choice stands") }
        let dir = NSTemporaryDirectory() + "unclip-kernel-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func draw(_ name: String, _ env: [String: String]) throws -> Data {
            let out = "\(dir)/\(name).png"
            let args = ["a red circle on a blue background", "--seed", "7", "--size", "64", "--prior-steps", "5",
                        "--decoder-steps", "5", "--quiet", "--output", out]
            let r = try runCLI(args, env: env.merging(["UNCLIP_WEIGHTS": ""]) { $1 })
            XCTAssertEqual(r.status, 0, r.err)
            return try Data(contentsOf: URL(fileURLWithPath: out))
        }
        let fresh = try draw("default", ["OPENBLAS_CORETYPE": try Self.expectedCore()!])
        XCTAssertEqual(try draw("prescott", ["OPENBLAS_CORETYPE": "Prescott"]), fresh)
        XCTAssertEqual(try draw("haswell", ["OPENBLAS_CORETYPE": "Haswell"]), fresh)
    }
}
