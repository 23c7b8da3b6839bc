// `unclip-run generate` / `variations` as a user runs them, on the tiny-a fixture weights: files, metadata,
// reproducibility, sizes, previews, progress, Ctrl-C, and a clear error (with no file left behind) for each bad input.
import Foundation
import ImageIO
import XCTest

final class GenerateCLITests: XCTestCase {
    static let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-a/model.safetensors").path
    /// Few steps: the tiny model takes well under a second per run.
    static let fast = ["--weights", weights, "--prior-steps", "3", "--decoder-steps", "3", "--super-res-steps", "2"]

    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-cli-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    private func generate(_ extra: [String], cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
        try runCLI(["generate", "--prompt", "a red circle on a blue background"] + Self.fast + extra, cwd: cwd)
    }

    /// README's main command: no --weights, no UNCLIP_WEIGHTS, run from elsewhere: the built-in weights of the checkout
    /// the binary was built in (their colours are checked by BuiltinQualityTests on the same prompt and seed).
    func testMainCommandDrawsWithTheBuiltInWeights() throws {
        let out = dir + "/main.png"
        let r = try runCLI(["a red circle on a blue background", "--seed", "1000", "--output", out], env: ["UNCLIP_WEIGHTS": ""], cwd: dir)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "\(out)  seed 1000\n")
        let png = try PNG.read(path: out)
        XCTAssertEqual([png.image.width, png.image.height], [256, 256])
        let text = try XCTUnwrap(png.text("parameters"))
        // The built-in file's sampling_defaults (prior guidance 2, decoder 1.5; scripts/builtin_config.json) apply.
        XCTAssertTrue(text.contains("Steps: 25, Sampler: unclip, CFG scale: 1.5, Seed: 1000, Size: 256x256, Model: unclip-builtin"), text)
        XCTAssertTrue(text.contains("Prior steps: 25, Prior CFG scale: 2.0"), text)
    }

    /// `--precision`: an unknown value and bf16 switched off (`UNCLIP_BF16=off`) fail clearly and write nothing;
    /// bf16 (where the CPU has it) writes a picture that records its precision and is reproducible.
    func testPrecisionOption() throws {
        let out = dir + "/p.png"
        let bad = try generate(["--seed", "1", "--output", out, "--precision", "fp16"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--precision") && bad.err.contains("fp16"), bad.err)
        let off = try runCLI(["generate", "--prompt", "a red circle", "--seed", "1", "--output", out, "--precision", "bf16"] + Self.fast,
                             env: ["UNCLIP_BF16": "off"])
        XCTAssertNotEqual(off.status, 0)
        XCTAssertTrue(off.err.contains("UNCLIP_BF16=off") && off.err.contains("--precision fp32"), off.err)
        XCTAssertEqual(files, [])
        let fp32 = try generate(["--seed", "1", "--output", dir + "/f.png", "--precision", "fp32"])
        XCTAssertEqual(fp32.status, 0, fp32.err)
        XCTAssertFalse(try XCTUnwrap(PNG.read(path: dir + "/f.png").text("parameters")).contains("Precision"))
        guard ProcessInfo.processInfo.environment["UNCLIP_BF16"] != "off",
              try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).contains("avx512_bf16") else { return }
        for name in ["b1.png", "b2.png"] {
            let r = try generate(["--seed", "1", "--output", dir + "/" + name, "--precision", "bf16"])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let b1 = try Data(contentsOf: URL(fileURLWithPath: dir + "/b1.png")), b2 = try Data(contentsOf: URL(fileURLWithPath: dir + "/b2.png"))
        XCTAssertEqual(b1, b2, "bf16: same seed, same bytes")
        XCTAssertTrue(try XCTUnwrap(PNG.read(path: dir + "/b1.png").text("parameters")).contains("Precision: bf16"))
    }

    /// `UNCLIP_WINOGRAD` other than 4, 2 or off is refused before anything runs (generate and bench alike).
    func testWinogradSwitchIsChecked() throws {
        let out = dir + "/w.png"
        for args in [["generate", "--prompt", "a red circle", "--seed", "1", "--output", out] + Self.fast,
                     ["bench", "ops", "--seconds", "0.1"]] {
            let r = try runCLI(args, env: ["UNCLIP_WINOGRAD": "of"])
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.contains("UNCLIP_WINOGRAD must be 4, 2 or off, got 'of'"), r.err)
        }
        XCTAssertEqual(files, [])
        let ok = try runCLI(["generate", "--prompt", "a red circle", "--seed", "1", "--output", out] + Self.fast,
                            env: ["UNCLIP_WINOGRAD": "OFF"])
        XCTAssertEqual(ok.status, 0, ok.err)
    }

    func testGenerateWritesAPNGWithItsParameters() throws {
        let out = dir + "/red.png"
        let r = try generate(["--seed", "42", "--output", out])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "\(out)  seed 42\n")
        let png = try PNG.read(path: out)
        XCTAssertEqual([png.image.width, png.image.height], [64, 64])
        let text = try XCTUnwrap(png.text("parameters"))
        XCTAssertTrue(text.hasPrefix("a red circle on a blue background\nSteps: 3, Sampler: unclip, CFG scale: 8.0, Seed: 42, Size: 64x64, Model: model"), text)
        XCTAssertTrue(text.contains("Prior steps: 3, Prior CFG scale: 4.0, Prior sampler: unclip, SR steps: 2, SR sampler: unclip, RNG: torch"), text)
        XCTAssertEqual(files, ["red.png"])                                   // no temporary file left
        // Progress: plain lines on a non-terminal stderr, one per step of each stage.
        for line in ["[prior] 1/3", "[prior] 3/3", "[decoder] 3/3", "[super-res] 2/2"] {
            XCTAssertTrue(r.err.contains(line), r.err)
        }
        XCTAssertFalse(r.err.contains("\r"), r.err)
    }

    func testSameSeedGivesIdenticalBytesAndQuietIsQuiet() throws {
        let a = try generate(["--seed", "7", "--output", dir + "/a.png", "--quiet"])
        let b = try generate(["--seed", "7", "--output", dir + "/b.png", "--quiet"])
        XCTAssertEqual(a.status, 0, a.err); XCTAssertEqual(b.status, 0, b.err)
        XCTAssertEqual(a.err, ""); XCTAssertEqual(b.err, "")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.png")), try Data(contentsOf: URL(fileURLWithPath: dir + "/b.png")))
        let c = try generate(["--seed", "8", "--output", dir + "/c.png", "--quiet"])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertTrue(try PNG.read(path: dir + "/a.png").image != PNG.read(path: dir + "/c.png").image)
    }

    /// `-n 2`: X-1.png (seed) and X-2.png (seed+1), and X-2.png is what a single run with seed+1 draws.
    func testCountWritesNumberedFilesEachReproducibleAlone() throws {
        let r = try generate(["--seed", "100", "-n", "2", "--output", dir + "/batch.png", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "\(dir)/batch-1.png  seed 100\n\(dir)/batch-2.png  seed 101\n")
        let single = try generate(["--seed", "101", "--output", dir + "/single.png", "--quiet"])
        XCTAssertEqual(single.status, 0, single.err)
        let second = try PNG.read(path: dir + "/batch-2.png"), alone = try PNG.read(path: dir + "/single.png")
        XCTAssertTrue(second.image == alone.image, "image 2 of -n 2 differs from a run at seed 101")
        XCTAssertEqual(second.text("parameters"), alone.text("parameters"))
        XCTAssertTrue(try PNG.read(path: dir + "/batch-1.png").image != second.image)
    }

    /// No --seed: a random seed, printed; no --output: prompt slug + seed, never overwriting.
    func testDefaultNameCarriesSlugAndRandomSeed() throws {
        let r = try generate([], cwd: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let note = try XCTUnwrap(r.err.split(separator: "\n").first { $0.hasPrefix("seed: ") }, r.err)
        let seed = try XCTUnwrap(note.dropFirst(6).split(separator: " ").first.map(String.init))
        XCTAssertEqual(r.out, "a-red-circle-on-a-blue-background-s\(seed).png  seed \(seed)\n")
        let again = try generate(["--seed", seed, "--quiet"], cwd: dir)
        XCTAssertEqual(again.out, "a-red-circle-on-a-blue-background-s\(seed)-2.png  seed \(seed)\n")
        XCTAssertTrue(try PNG.read(path: "\(dir)/a-red-circle-on-a-blue-background-s\(seed).png").image
                      == PNG.read(path: "\(dir)/a-red-circle-on-a-blue-background-s\(seed)-2.png").image)
    }

    func testSmallSizeSkipsSuperResolution() throws {
        let r = try generate(["--seed", "1", "--size", "16", "--output", dir + "/small.png"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try PNG.read(path: dir + "/small.png").image.width, 16)
        XCTAssertFalse(r.err.contains("[super-res]"), r.err)
        XCTAssertTrue(try XCTUnwrap(try PNG.read(path: dir + "/small.png").text("parameters")).contains("Size: 16x16"))
        XCTAssertEqual(try generate(["--seed", "1", "--size", "64x64", "--output", dir + "/big.png", "--quiet"]).status, 0)
        XCTAssertEqual(try PNG.read(path: dir + "/big.png").image.width, 64)
    }

    func testSaveEveryWritesPreviewsOfThePredictedImage() throws {
        let r = try runCLI(["generate", "a cat", "--weights", Self.weights, "--prior-steps", "2", "--decoder-steps", "4",
                            "--super-res-steps", "2", "--seed", "3", "--save-every", "2", "--quiet",
                            "--output", dir + "/cat.png"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(files, ["cat.decoder-2.png", "cat.decoder-4.png", "cat.png", "cat.super-res-2.png"])
        XCTAssertEqual(try PNG.read(path: dir + "/cat.decoder-2.png").image.width, 16)
        XCTAssertEqual(try PNG.read(path: dir + "/cat.super-res-2.png").image.width, 64)
    }

    func testVariationsOfAPicture() throws {
        let source = dir + "/source.png"
        var pixels = [UInt8]()
        for y in 0..<30 { for x in 0..<20 { pixels += [UInt8(x * 12), UInt8(y * 8), 128, 255] } }
        try PNG.write(Image8(width: 20, height: 30, channels: 4, pixels: pixels), to: source)
        let r = try runCLI(["variations", "--image", source, "--weights", Self.weights, "--decoder-steps", "3",
                            "--super-res-steps", "2", "--seed", "5", "-n", "2", "--output", dir + "/v.png", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(files, ["source.png", "v-1.png", "v-2.png"])
        let v = try PNG.read(path: dir + "/v-2.png")
        XCTAssertEqual(v.image.width, 64)
        XCTAssertTrue(try XCTUnwrap(v.text("parameters")).contains("Seed: 6") && v.text("parameters")!.contains("Variation of: source.png"))
        let alone = try runCLI(["variations", "--image", source, "--weights", Self.weights, "--decoder-steps", "3",
                                "--super-res-steps", "2", "--seed", "6", "--output", dir + "/alone.png", "--quiet"])
        XCTAssertEqual(alone.status, 0, alone.err)
        XCTAssertTrue(try PNG.read(path: dir + "/alone.png").image == v.image, "variation 2 of -n 2 differs from a run at seed 6")
        let ddim = try runCLI(["variations", "--image", source, "--weights", Self.weights, "--decoder-steps", "3",
                               "--super-res-steps", "2", "--decoder-scheduler", "ddim", "--eta", "0.5", "--seed", "6",
                               "--output", dir + "/ddim.png", "--quiet"])
        XCTAssertEqual(ddim.status, 0, ddim.err)
        XCTAssertTrue(try XCTUnwrap(try PNG.read(path: dir + "/ddim.png").text("parameters")).contains("Sampler: ddim"))
    }

    /// Every bad input: non-zero exit, a message naming the problem, and nothing written.
    func testBadInputsFailClearlyAndWriteNothing() throws {
        let garbage = dir + "/garbage.png"
        FileManager.default.createFile(atPath: garbage, contents: Data("not a png at all".utf8))
        let out = dir + "/never.png"
        let cases: [([String], String)] = [
            (["generate", "x", "--weights", Self.weights, "--decoder-scheduler", "frobnicate", "--output", out],
             "--decoder-scheduler: unknown scheduler 'frobnicate' (known: unclip, ddim"),
            (["generate", "x", "--weights", Self.weights, "--prior-scheduler", "nope"], "--prior-scheduler: unknown scheduler 'nope'"),
            (["generate", "x", "--weights", Self.weights, "--decoder-steps", "0", "--output", out],
             "--decoder-steps must be between 1 and 1000, got 0"),
            (["generate", "x", "--weights", Self.weights, "--prior-steps", "0", "--output", out], "--prior-steps must be between 1 and 1000"),
            (["generate", "x", "--weights", Self.weights, "--count=-2", "--output", out], "--count must be between 1 and 256, got -2"),
            (["generate", "x", "--weights", Self.weights, "-n", "0", "--output", out], "--count must be between 1 and 256, got 0"),
            (["generate", "x", "--weights", dir + "/missing.safetensors", "--output", out],
             "cannot open weights file \(dir)/missing.safetensors"),
            (["generate", "x", "--weights", garbage, "--output", out], "weights file \(garbage)"),
            (["variations", "--image", garbage, "--weights", Self.weights, "--output", out], "cannot read --image \(garbage)"),
            (["variations", "--image", dir + "/absent.png", "--weights", Self.weights, "--output", out], "cannot read --image"),
            (["generate", "x", "--weights", Self.weights, "--size", "100", "--output", out],
             "--size 100 is not available with these weights: use 16 (decoder only) or 64 (with super-resolution)"),
            (["generate", "x", "--weights", Self.weights, "--size", "big", "--output", out], "--size must be N or NxN"),
            (["generate", "x", "--weights", Self.weights, "--super-res-steps", "1", "--output", out],
             "--super-res-steps: UnCLIPScheduler: cannot use 1 inference steps"),
            (["generate", "x", "--weights", Self.weights, "--eta", "0.5", "--output", out], "--eta applies to the DDIM sampler only"),
            (["generate", "x", "--weights", Self.weights, "--eta=-1", "--output", out], "--eta must be a number ≥ 0"),
            (["generate", "x", "--weights", Self.weights, "--eta", "-1", "--output", out], "Missing value for '--eta <eta>'"),
            (["generate", "x", "--weights", Self.weights, "--prior-scheduler", "euler-a", "--output", out],
             "--prior-scheduler: EulerAncestralDiscreteScheduler: prediction_type \"sample\" is not supported"),
            (["generate", "x", "--weights", Self.weights, "--decoder-guidance", "nan", "--output", out], "--decoder-guidance must be a number ≥ 0"),
            (["generate", "x", "--weights", Self.weights, "--save-every", "0", "--output", out], "--save-every must be at least 1"),
            (["generate", "x", "--weights", Self.weights, "--output", dir + "/never.jpg"], "--output must name a .png file"),
            (["generate", "x", "--weights", Self.weights, "--output", dir + "/no/such/dir/x.png"], "output directory \(dir)/no/such/dir does not exist"),
            (["generate", "x", "--weights", Self.weights, "--seed", "abc", "--output", out], "abc"),
            (["variations", "--weights", Self.weights, "--output", out], "Missing expected argument '--image <image>'"),
        ]
        for (args, message) in cases {
            let r = try runCLI(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains(message), "\(args.joined(separator: " ")):\n\(r.err)")
            XCTAssertEqual(files, ["garbage.png"], args.joined(separator: " "))
        }
    }

    /// Ctrl-C stops the run between steps: exit 130, no output file, no temporary file.
    func testInterruptCancelsCleanly() throws {
        let p = Process()
        p.executableURL = try cliExecutable()
        p.arguments = ["generate", "a slow one", "--weights", Self.weights, "--prior-steps", "1000", "--decoder-steps", "1000",
                       "--super-res-steps", "1000", "--seed", "1", "--output", dir + "/slow.png"]
        let errPath = dir + "/stderr.txt"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let errFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardError = errFile
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !(try String(contentsOfFile: errPath, encoding: .utf8)).contains("[prior] 2/1000") {
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        try errFile.close()
        let err = try String(contentsOfFile: errPath, encoding: .utf8)
        XCTAssertEqual(p.terminationStatus, 130, err)
        XCTAssertTrue(err.contains("cancelled: no image was written"), err)
        XCTAssertFalse(err.contains("[super-res] 1000/1000"), err)
        XCTAssertEqual(files, ["stderr.txt"])
    }
}
