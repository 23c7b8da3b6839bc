// swift-tools-version:6.0
// unclip: a local, offline, CPU-only unCLIP (DALL·E 2 style) engine.
// Dependencies point one way: system shims → TensorCore → WeightIO → (layers → models); ImageIO stands beside.
import PackageDescription
import Foundation

// Code generation for the numeric targets. SIMD16<Float> loops only become wide vector code with a
// target CPU; haswell (AVX2+FMA+F16C) runs on any x86 CPU from the last decade. `UNCLIP_TARGET_CPU=native`
// (or skylake-avx512 / znver4 for AVX-512) builds for the local machine instead.
// Only the kernels (TensorCore) drop bounds and overflow checks (-Ounchecked); every target that sees user input —
// weights files, configs, prompts, images, requests — keeps Swift's checks, so a bad value is a trap, never a wild read.
let targetCPU = ProcessInfo.processInfo.environment["UNCLIP_TARGET_CPU"] ?? "haswell"
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", targetCPU])]
let numericFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", targetCPU])]
#else
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
let numericFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
#endif
#if arch(x86_64)
let builtTargetCPU = targetCPU
#else
let builtTargetCPU = "generic"
#endif

let package = Package(
    name: "unclip",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "unclip-run", targets: ["UnclipCLI"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "WeightIO", targets: ["WeightIO"]),
        .library(name: "ImageIO", targets: ["ImageIO"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Random", targets: ["Random"]),
        .library(name: "Schedulers", targets: ["Schedulers"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The OpenAI images API server (`unclip-run serve`).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        // Metrics in the Prometheus format (`/metrics`), and the shared job queue of scaled-out deployments.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
    ],
    targets: [
        // System-library shims.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CLibPNG", path: "Sources/CLibPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // libpng reports errors with longjmp, which Swift cannot catch: a small C layer owns every libpng call.
        .target(name: "PNGShim", dependencies: ["CLibPNG"], path: "Sources/PNGShim"),

        // Chooses OpenBLAS's kernels from the CPU's features (Debian's 0.3.21 mis-detects recent CPUs).
        .target(name: "BLASTune", path: "Sources/BLASTune",
                cSettings: [.define("UNCLIP_TARGET_CPU", to: "\"\(builtTargetCPU)\"")],
                linkerSettings: [.linkedLibrary("dl")]),
        // The bf16 matmul kernels (AVX512-BF16), compiled per function for their instruction set.
        .target(name: "BF16Kernels", path: "Sources/BF16Kernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Winograd F(2×2|4×4, 3×3) transforms, one copy per instruction set (avx512f, avx2, baseline) chosen per call.
        .target(name: "ConvKernels", path: "Sources/ConvKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "BLASTune", "CMalloc", "BF16Kernels", "ConvKernels"],
                swiftSettings: kernelFlags),
        .target(name: "WeightIO", dependencies: ["TensorCore"], swiftSettings: numericFlags),
        .target(name: "Layers", dependencies: ["TensorCore", "WeightIO"], swiftSettings: numericFlags),
        .target(name: "Models", dependencies: ["Layers", "TensorCore", "WeightIO", "Tokenizer"], swiftSettings: numericFlags),
        .target(name: "ImageIO", dependencies: ["PNGShim"]),
        // Stands alone (Foundation only), like the schedulers.
        .target(name: "Tokenizer"),
        // torch-compatible random numbers (Foundation only) and the diffusion schedulers (never Models/Layers).
        .target(name: "Random"),
        .target(name: "Schedulers", dependencies: ["TensorCore", "Random"]),
        // The unCLIP pipelines: text-to-image and variations, chaining the models and schedulers.
        .target(name: "Pipeline", dependencies: ["Models", "Schedulers", "Random", "TensorCore", "WeightIO", "Tokenizer", "ImageIO"],
                swiftSettings: numericFlags),
        // The OpenAI images API on a resident engine: routes, wire formats, the job queue. No math, no request rules
        // of its own (those are Pipeline's).
        .target(
            name: "ImagesServer",
            dependencies: [
                "Pipeline", "ImageIO", "TensorCore", "WeightIO", "Schedulers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The playground's source files; PlaygroundAssets.swift embeds them (scripts/embed_playground.py).
            exclude: ["Playground"]),
        // Scale-out: the images API's jobs in PostgreSQL (API nodes enqueue and answer, `unclip-run worker`s compute).
        .target(
            name: "PostgresQueue",
            dependencies: [
                "ImagesServer", "Pipeline", "ImageIO",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "UnclipCLI",
            dependencies: [
                "TensorCore", "WeightIO", "ImageIO", "Tokenizer", "Models", "Pipeline", "Schedulers", "ImagesServer",
                "PostgresQueue",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/UnclipCLI"),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "WeightIO"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "WeightIOTests", dependencies: ["WeightIO", "TensorCore"]),
        .testTarget(name: "ModelTests", dependencies: ["Models", "TensorCore", "WeightIO", "Tokenizer"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["UnclipCLI", "WeightIO", "TensorCore", "ImageIO"]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulerTests", dependencies: ["Schedulers", "Random", "TensorCore", "WeightIO"]),
        // What each fuzz target does with an input (Tests/Fuzz/FuzzBodies), replayed over the corpora by ServerTests.
        .target(name: "FuzzBodies", dependencies: ["ImageIO", "ImagesServer", "Models", "Pipeline", "Tokenizer", "WeightIO"],
                path: "Tests/Fuzz/FuzzBodies"),
        .testTarget(name: "ServerTests", dependencies: [
            "ImagesServer", "Pipeline", "ImageIO", "WeightIO", "FuzzBodies",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "QueueTests", dependencies: ["PostgresQueue"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Schedulers", "Random", "TensorCore", "WeightIO", "ImageIO"]),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer targets (issue #18), only when UNCLIP_FUZZ is set: scripts/fuzz.sh builds them into .build-fuzz with
// -sanitize=fuzzer,address. Sources in Tests/Fuzz/.
if ProcessInfo.processInfo.environment["UNCLIP_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzDriver", path: "Tests/Fuzz/FuzzDriver"))
    for name in ["FuzzWeights", "FuzzPNG", "FuzzTokenizer", "FuzzRequests", "FuzzEdits"] {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzBodies", "FuzzDriver"], path: "Tests/Fuzz/\(name)",
                                                 swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
