// `unclip-run bench pipeline` as a user runs it on the tiny-a fixture: the sweep's JSON/CSV rows, the contact sheet's
// layout and cells, each image against `unclip-run generate`, and a clear error (with nothing written) for bad input.
// No timing is asserted: only that the numbers are there, positive and consistent with each other.
import Foundation
import ImageIO
import XCTest

final class BenchPipelineCLITests: XCTestCase {
    static let weights = GenerateCLITests.weights
    /// bench_reference.py's columns, in its order.
    static let referenceColumns = ["engine", "scheduler", "total_s", "peak_rss_mb", "text_ms", "prior_steps", "prior_ms_per_step",
                                   "decoder_steps", "decoder_ms_per_step", "super_res_steps", "super_res_ms_per_step",
                                   "image_mean", "load_s"]

    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-bench-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func files(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    private func rows(_ out: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/bench.json"))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(obj["rows"] as? [[String: Any]])
    }

    private func number(_ row: [String: Any], _ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        try XCTUnwrap((row[key] as? NSNumber)?.doubleValue, "\(key) in \(row)", file: file, line: line)
    }

    /// 2 schedulers × 2 step counts: four rows, a 2×2 labelled sheet, and every image equal to `generate`'s.
    func testSweepWritesRowsSheetAndTheImagesGenerateDraws() throws {
        let out = dir + "/out"
        let r = try runCLI(["bench", "pipeline", "--weights", Self.weights, "--prompt", "a cat", "--seed", "3", "--steps", "2,3",
                            "--schedulers", "unclip,ddim", "--super-res-steps", "2", "--out-dir", out])
        XCTAssertEqual(r.status, 0, r.err)
        for text in ["sgemm 2048³ this run", "% sgemm", "super-res", "unclip ", "ddim "] { XCTAssertTrue(r.out.contains(text), r.out) }
        let names = ["unclip-p2-d2-sr2.png", "unclip-p3-d3-sr2.png", "ddim-p2-d2-sr2.png", "ddim-p3-d3-sr2.png"]
        XCTAssertEqual(files(out), (["bench.csv", "bench.json", "contact-sheet.png"] + names).sorted())

        let rows = try rows(out)
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(rows.map { $0["scheduler"] as? String }, ["unclip", "unclip", "ddim", "ddim"])
        XCTAssertEqual(rows.map { $0["image"] as? String }, names)
        for (row, n) in zip(rows, [2.0, 3, 2, 3]) {
            XCTAssertEqual(row["engine"] as? String, "unclip")
            XCTAssertEqual(try [number(row, "prior_steps"), number(row, "decoder_steps"), number(row, "super_res_steps")], [n, n, 2])
            XCTAssertEqual(try number(row, "seed"), 3)
            for key in ["total_s", "peak_rss_mb", "text_ms", "prior_ms_per_step", "decoder_ms_per_step", "super_res_ms_per_step",
                        "sgemm_gflops", "prior_ms", "decoder_ms", "super_res_ms"] {
                XCTAssertGreaterThan(try number(row, key), 0, key)
            }
            for stage in ["text", "prior", "decoder", "super_res"] {
                XCTAssertGreaterThan(try number(row, "\(stage)_gflop"), 0, stage)
                XCTAssertGreaterThan(try number(row, "\(stage)_gflops"), 0, stage)
                XCTAssertGreaterThanOrEqual(try number(row, "\(stage)_pct_sgemm"), 0, stage)
                XCTAssertGreaterThan(try number(row, "\(stage)_peak_rss_mb"), 0, stage)
            }
            let mean = try number(row, "image_mean")
            XCTAssertTrue(mean > 0 && mean < 1, "\(mean)")
            // The stages partition the run: their times plus their loading add up to the total (to the columns' rounding).
            var parts = try number(row, "text_ms")
            for stage in ["prior", "decoder", "super_res"] { parts += try number(row, "\(stage)_ms") }
            for stage in ["text", "prior", "decoder", "super_res"] { parts += try number(row, "\(stage)_load_ms") }
            XCTAssertEqual(parts, try number(row, "total_s") * 1000, accuracy: 1.5)
            XCTAssertEqual(try number(row, "peak_rss_mb"), try ["text", "prior", "decoder", "super_res"].map { try number(row, "\($0)_peak_rss_mb") }.max()!,
                           accuracy: 0.051)
        }
        // GEMM work depends on the networks and step counts, not on the sampler or the clock.
        for key in ["text_gflop", "prior_gflop", "decoder_gflop", "super_res_gflop"] {
            XCTAssertEqual(try number(rows[0], key), try number(rows[2], key), key)
            XCTAssertEqual(try number(rows[1], key), try number(rows[3], key), key)
        }
        XCTAssertEqual(try number(rows[0], "text_gflop"), try number(rows[1], "text_gflop"))
        XCTAssertEqual(try number(rows[1], "prior_gflop") / number(rows[0], "prior_gflop"), 1.5, accuracy: 1e-5)   // 3 vs 2 steps
        XCTAssertGreaterThan(try number(rows[1], "decoder_gflop"), try number(rows[0], "decoder_gflop"))

        // CSV: bench_reference.py's columns first, then unclip's; one line per run with the JSON's values.
        let csv = try String(contentsOfFile: out + "/bench.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(csv.count, 5)
        XCTAssertEqual(Array(csv[0].prefix(Self.referenceColumns.count)), Self.referenceColumns)
        for (line, row) in zip(csv.dropFirst(), rows) {
            let values = Dictionary(uniqueKeysWithValues: zip(csv[0], line))
            XCTAssertEqual(values["scheduler"], row["scheduler"] as? String)
            XCTAssertEqual(values["image"], row["image"] as? String)
            XCTAssertEqual(Double(values["decoder_ms_per_step"] ?? ""), try number(row, "decoder_ms_per_step"))
        }

        // Contact sheet: rows = schedulers, columns = step counts, cells 64 px (ContactSheet's layout, one title line).
        let sheet = try PNG.read(path: out + "/contact-sheet.png").image     // decoded as RGBA, as every cell below
        let pad = 4, line = BitmapFont.height + pad, left = "unclip".count * BitmapFont.width + 2 * pad, top = 2 * line + pad
        XCTAssertEqual(sheet.width, left + 2 * (64 + pad) + pad)
        XCTAssertEqual(sheet.height, top + 2 * (64 + pad) + pad)
        var images: [String: Image8] = [:]
        for name in names { images[name] = try PNG.read(path: "\(out)/\(name)").image }
        for (i, scheduler) in ["unclip", "ddim"].enumerated() {
            for (j, steps) in [2, 3].enumerated() {
                let image = try XCTUnwrap(images["\(scheduler)-p\(steps)-d\(steps)-sr2.png"])
                XCTAssertEqual([image.width, image.height], [64, 64])
                let x0 = left + j * (64 + pad), y0 = top + i * (64 + pad)
                let same = (0..<64).allSatisfy { y in (0..<64).allSatisfy { x in
                    (0..<3).allSatisfy { c in sheet.pixels[((y0 + y) * sheet.width + x0 + x) * 4 + c] == image.pixels[(y * 64 + x) * 4 + c] }
                } }
                XCTAssertTrue(same, "sheet cell (\(scheduler), \(steps) steps)")
            }
        }
        XCTAssertTrue(images["unclip-p2-d2-sr2.png"] != images["ddim-p2-d2-sr2.png"])
        XCTAssertTrue(images["unclip-p2-d2-sr2.png"] != images["unclip-p3-d3-sr2.png"])

        // Each cell is the picture `generate` draws with the same seed, steps and scheduler on every stage.
        for scheduler in ["unclip", "ddim"] {
            for steps in ["2", "3"] {
                let png = "\(dir)/generate-\(scheduler)-\(steps).png"
                let g = try runCLI(["generate", "a cat", "--weights", Self.weights, "--seed", "3", "--prior-steps", steps,
                                    "--decoder-steps", steps, "--super-res-steps", "2", "--prior-scheduler", scheduler,
                                    "--decoder-scheduler", scheduler, "--super-res-scheduler", scheduler, "--quiet", "--output", png])
                XCTAssertEqual(g.status, 0, g.err)
                XCTAssertTrue(try PNG.read(path: png).image == images["\(scheduler)-p\(steps)-d\(steps)-sr2.png"],
                              "\(scheduler) at \(steps) steps differs from generate")
            }
        }
    }

    /// No sweep: one run at diffusers' defaults (25/25/7) with the weights' own scheduler; --size 16 skips super-res.
    func testDefaultRunAndDecoderOnlySize() throws {
        let out = dir + "/defaults"
        let r = try runCLI(["bench", "pipeline", "--weights", Self.weights, "--out-dir", out])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(files(out), ["bench.csv", "bench.json", "contact-sheet.png", "unclip-p25-d25-sr7.png"])
        let row = try XCTUnwrap(try rows(out).first)
        XCTAssertEqual(row["scheduler"] as? String, "unclip")
        XCTAssertEqual(try [number(row, "prior_steps"), number(row, "decoder_steps"), number(row, "super_res_steps")], [25, 25, 7])
        XCTAssertEqual(try number(row, "seed"), 0)

        let small = dir + "/small"
        let s = try runCLI(["bench", "pipeline", "--weights", Self.weights, "--size", "16", "--prior-steps", "2", "--decoder-steps", "3",
                            "--schedulers", "ddpm", "--out-dir", small])
        XCTAssertEqual(s.status, 0, s.err)
        XCTAssertEqual(files(small), ["bench.csv", "bench.json", "contact-sheet.png", "ddpm-p2-d3.png"])
        let srow = try XCTUnwrap(try rows(small).first)
        XCTAssertEqual(try [number(srow, "prior_steps"), number(srow, "decoder_steps"), number(srow, "super_res_steps")], [2, 3, 0])
        XCTAssertEqual(try number(srow, "super_res_gflop"), 0)
        XCTAssertEqual(try PNG.read(path: small + "/ddpm-p2-d3.png").image.width, 16)
    }

    /// Every bad input: non-zero exit, a message naming the problem, and no output directory.
    func testBadInputsFailClearlyAndWriteNothing() throws {
        let file = dir + "/a-file"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let folder = dir + "/karlo-layout"
        for sub in ["prior", "decoder", "text_proj", "super_res_first", "prior_scheduler"] {
            try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: folder + "/prior_scheduler/scheduler_config.json", contents: Data("{}".utf8))
        let out = dir + "/out", base = ["bench", "pipeline", "--weights", Self.weights]
        let cases: [([String], [String: String], String)] = [
            (["--schedulers", "frobnicate", "--out-dir", out], [:], "--schedulers: unknown scheduler 'frobnicate' (known: unclip, ddim"),
            (["--schedulers", "", "--out-dir", out], [:], "--schedulers is empty"),
            (["--steps", "0", "--out-dir", out], [:], "--steps must be between 1 and 1000, got 0"),
            (["--steps", "", "--out-dir", out], [:], "--steps is empty"),
            (["--steps", "5,,10", "--out-dir", out], [:], "--steps '5,,10' has an empty item"),
            (["--steps", "5,5", "--out-dir", out], [:], "--steps lists '5' twice"),
            (["--steps", "five", "--out-dir", out], [:], "--steps: 'five' is not a whole number"),
            (["--steps", "3", "--prior-steps", "4", "--out-dir", out], [:], "drop --prior-steps/--decoder-steps"),
            (["--super-res-steps", "0", "--out-dir", out], [:], "--super-res-steps must be between 1 and 1000, got 0"),
            (["--super-res-steps", "1", "--out-dir", out], [:], "super-res stage at 1 steps: UnCLIPScheduler: cannot use 1 inference steps"),
            (["--steps", "2", "--schedulers", "euler-a", "--out-dir", out], [:], "euler-a, prior stage at 2 steps"),
            (["--size", "100", "--out-dir", out], [:], "--size 100 is not available with these weights"),
            (["--out-dir", file], [:], "--out-dir \(file) exists and is not a directory"),
            (["--out-dir", file + "/sub"], [:], "cannot create --out-dir \(file)/sub"),
            (["--reference", "--out-dir", out], [:], "--reference needs --reference-folder DIR"),
            (["--reference-folder", folder, "--out-dir", out], [:], "--reference-folder is only used with --reference"),
            (["--reference", "--reference-folder", dir + "/none", "--out-dir", out], [:], "--reference-folder \(dir)/none is not a directory"),
            (["--reference", "--reference-folder", dir, "--out-dir", out], [:], "is not a Karlo-layout diffusers folder (no prior)"),
            (["--reference", "--reference-folder", folder, "--schedulers", "euler-a", "--out-dir", out], [:], "--reference cannot compare euler-a"),
            (["--reference", "--reference-folder", folder, "--out-dir", out], ["UNCLIP_PYTHON": dir + "/no/python"],
             "--reference needs Python with torch and diffusers: \(dir)/no/python not found"),
            (["--reference", "--reference-folder", folder, "--out-dir", out], ["UNCLIP_PYTHON": "/bin/false"],
             "/bin/false cannot import torch/diffusers/transformers"),
            (["--reference", "--reference-folder", folder, "--size", "16", "--out-dir", out], [:], "--reference runs the whole cascade"),
        ]
        for (args, env, message) in cases {
            let r = try runCLI(base + args, env: env)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains(message), "\(args.joined(separator: " ")):\n\(r.err)")
            XCTAssertEqual(files(dir), ["a-file", "karlo-layout"], args.joined(separator: " "))
        }
        let missing = try runCLI(["bench", "pipeline", "--weights", dir + "/missing.safetensors", "--out-dir", out])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("cannot open weights file \(dir)/missing.safetensors"), missing.err)
        XCTAssertEqual(files(dir), ["a-file", "karlo-layout"])
    }

    /// Ctrl-C during the sweep: exit 130 and nothing in the output directory (files are written only after the last run).
    func testInterruptWritesNothing() throws {
        let out = dir + "/out"
        let p = Process()
        p.executableURL = try cliExecutable()
        p.arguments = ["bench", "pipeline", "--weights", Self.weights, "--steps", "2,1000", "--super-res-steps", "2", "--out-dir", out]
        let errPath = dir + "/stderr.txt"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let errFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardError = errFile
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !(try String(contentsOfFile: errPath, encoding: .utf8)).contains("[2/2]") { usleep(20_000) }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        try errFile.close()
        let err = try String(contentsOfFile: errPath, encoding: .utf8)
        XCTAssertEqual(p.terminationStatus, 130, err)
        XCTAssertTrue(err.contains("cancelled: nothing was written"), err)
        XCTAssertEqual(files(out), [])
    }
}
