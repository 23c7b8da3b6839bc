// `unclip-run edit` as a user runs it (issue #15): the kept pixels stay, the PNG records the edit, and each bad input is
// a clear message, a non-zero exit and no file.
import Foundation
import ImageIO
import XCTest

final class EditCLITests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-edit-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    /// A 48² RGBA picture, the left `transparent` columns with alpha 0.
    private func picture(_ name: String, side: Int = 48, height: Int? = nil, transparent: Int) throws -> String {
        let h = height ?? side
        var px = [UInt8]()
        for y in 0..<h { for x in 0..<side { px += [UInt8(x * 5), UInt8(y * 5), 200, x < transparent ? 0 : 255] } }
        let path = dir + "/" + name
        try PNG.write(Image8(width: side, height: h, channels: 4, pixels: px), to: path)
        return path
    }

    func testEditKeepsTheRestAndRecordsWhatWasDone() throws {
        let source = try picture("src.png", transparent: 16), out = dir + "/out.png"
        let r = try runCLI(["edit", "--image", source, "a red circle", "--weights", GenerateCLITests.weights, "--seed", "4",
                            "--prior-steps", "2", "--decoder-steps", "3", "--super-res-steps", "2", "--resample", "2",
                            "--jump-length", "2", "--mask-blur", "3", "--output", out])
        XCTAssertEqual(r.status, 0, r.err)
        let input = try PNG.read(path: source).image, edited = try PNG.read(path: out)
        XCTAssertEqual([edited.image.width, edited.image.height], [48, 48])
        for y in 0..<48 { for x in 16..<48 { for c in 0..<3 {
            XCTAssertEqual(edited.image.pixels[(y * 48 + x) * 4 + c], input.pixels[(y * 48 + x) * 4 + c], "(\(x), \(y))")
        } } }
        let text = try XCTUnwrap(edited.text("parameters"))
        XCTAssertTrue(text.contains("Edit of: src.png, Mask: image alpha, Edited pixels: 768, Strength: 1.0, Image weight: 0.0, "
                                    + "Resample: 2, Jump length: 2, Mask blur: 3"), text)
    }

    func testBadInputsFailClearlyAndWriteNothing() throws {
        let source = try picture("src.png", transparent: 16), opaque = try picture("opaque.png", transparent: 0)
        let wide = try picture("wide.png", side: 48, height: 24, transparent: 8), small = try picture("small.png", side: 24, transparent: 4)
        let garbage = dir + "/garbage.png"
        FileManager.default.createFile(atPath: garbage, contents: Data("not a png".utf8))
        let out = dir + "/never.png", w = GenerateCLITests.weights
        let cases: [([String], String)] = [
            (["edit", "--image", wide, "x", "--weights", w, "--output", out], "--image is 48×24: edits take a square picture"),
            (["edit", "--image", source, "--mask", small, "x", "--weights", w, "--output", out], "--mask is 24×24, but --image is 48×48"),
            (["edit", "--image", source, "--mask", opaque, "x", "--weights", w, "--output", out], "--mask marks no pixel to edit"),
            (["edit", "--image", source, "--mask", garbage, "x", "--weights", w, "--output", out], "cannot read --mask \(garbage)"),
            (["edit", "--image", garbage, "x", "--weights", w, "--output", out], "cannot read --image \(garbage)"),
            (["edit", "--image", source, "x", "--strength", "0", "--weights", w, "--output", out], "--strength must be in (0, 1]"),
            (["edit", "--image", source, "x", "--mask-mode", "black", "--weights", w, "--output", out], "--mask-mode must be alpha or white"),
            (["edit", "--image", source, "x", "--decoder-scheduler", "euler-a", "--weights", w, "--output", out], "RePaint resampling"),
            (["edit", "--image", source, "--weights", w, "--output", out], "missing prompt"),
        ]
        for (args, message) in cases {
            let r = try runCLI(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains(message), "\(args.joined(separator: " ")):\n\(r.err)")
            XCTAssertEqual(files, ["garbage.png", "opaque.png", "small.png", "src.png", "wide.png"], args.joined(separator: " "))
        }
    }

    func testOutpaintGrowsTheCanvasAndKeepsThePicture() throws {
        let source = try picture("src.png", side: 40, transparent: 0), out = dir + "/wide.png"
        let r = try runCLI(["outpaint", "--image", source, "--right", "24", "a red circle", "--weights", GenerateCLITests.weights,
                            "--seed", "2", "--prior-steps", "2", "--decoder-steps", "2", "--super-res-steps", "2", "--output", out])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("outpaint window 1"), r.err)
        let input = try PNG.read(path: source).image, grown = try PNG.read(path: out)
        XCTAssertEqual([grown.image.width, grown.image.height], [64, 40])
        for y in 0..<40 { for x in 0..<40 { for c in 0..<3 {
            XCTAssertEqual(grown.image.pixels[(y * 64 + x) * 4 + c], input.pixels[(y * 40 + x) * 4 + c])
        } } }
        XCTAssertTrue(try XCTUnwrap(grown.text("parameters")).contains("Outpaint of: src.png, Margins: left 0, right 24, top 0, bottom 0"))
        let bad: [([String], String)] = [
            (["outpaint", "--image", source, "x", "--weights", GenerateCLITests.weights], "the canvas margins must be ≥ 0 with at least one > 0"),
            (["outpaint", "--image", source, "--left", "2100", "x", "--weights", GenerateCLITests.weights],
             "the canvas would be 2140×40, over the limit of 2048 pixels a side"),
            (["outpaint", "--image", source, "--left", "8", "x", "-n", "2", "--weights", GenerateCLITests.weights], "-n does not apply to outpaint"),
        ]
        for (args, message) in bad {
            let e = try runCLI(args + ["--output", dir + "/never.png"])
            XCTAssertNotEqual(e.status, 0, args.joined(separator: " "))
            XCTAssertTrue(e.err.contains(message), "\(args.joined(separator: " ")):\n\(e.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/never.png"))
        }
    }
}
