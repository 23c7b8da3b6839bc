// PNG decoding of every common pixel format (fixtures from scripts/make_png_fixtures.py), round trips with
// text chunks, malformed input, and atomic writes.
import Foundation
import ImageIO
import XCTest

final class PNGTests: XCTestCase {
    static let kinds = ["gray1", "gray2", "gray4", "gray8", "gray16", "gray8_trns_key", "gray_alpha8", "gray_alpha16",
                        "palette4", "palette8_trns", "rgb8", "rgb8_interlaced", "rgb16", "rgba8", "rgba16"]

    func fixture(_ name: String, _ ext: String) throws -> Data {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: ext), "fixture \(name).\(ext)")
        return try Data(contentsOf: url)
    }

    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-png-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testDecodesEveryPixelFormatToRGBA() throws {
        for kind in Self.kinds {
            let decoded = try PNG.decode(try fixture(kind, "png"), name: kind)
            XCTAssertEqual(decoded.image.width, 13, kind)
            XCTAssertEqual(decoded.image.height, 7, kind)
            XCTAssertEqual(decoded.image.channels, 4, kind)
            XCTAssertEqual(decoded.image.pixels, [UInt8](try fixture(kind, "rgba")), kind)
        }
    }

    func testRoundTripRGBAndRGBAWithText() throws {
        for channels in [3, 4] {
            let w = 17, h = 5
            let px = (0..<(w * h * channels)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let img = Image8(width: w, height: h, channels: channels, pixels: px)
            let params = GenerationParameters(prompt: "un chat rouge — 赤い猫 🐈", steps: 25, sampler: "unclip", cfgScale: 8,
                                              seed: 42, width: w, height: h, model: "tiny")
            let text = [("parameters", params.text), ("Software", "unclip")]
            let path = dir + "/rt\(channels).png"
            try PNG.write(img, to: path, text: text)
            let back = try PNG.read(path: path)
            var expected = [UInt8]()
            for i in 0..<(w * h) {
                expected += px[(i * channels)..<(i * channels + channels)]
                if channels == 3 { expected.append(255) }
            }
            XCTAssertEqual(back.image.pixels, expected)
            XCTAssertEqual(back.text("parameters"), params.text, "UTF-8 text survives (iTXt)")
            XCTAssertEqual(back.text("Software"), "unclip")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names, ["rt3.png", "rt4.png"], "no temporary files left behind")
    }

    func testParametersChunkFormat() {
        let p = GenerationParameters(prompt: "a red circle", steps: 25, sampler: "unclip", cfgScale: 8.0, seed: 7,
                                     width: 256, height: 256, model: "karlo", extra: [("Prior steps", "25")])
        XCTAssertEqual(p.text, "a red circle\nSteps: 25, Sampler: unclip, CFG scale: 8.0, Seed: 7, Size: 256x256, Model: karlo, Prior steps: 25")
    }

    func testMalformedInputsGiveClearErrors() throws {
        let good = try fixture("rgb8", "png")
        func expect(_ data: Data, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try PNG.decode(data, name: "x.png"), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment), "'\(e)' lacks '\(fragment)'", line: line)
                XCTAssertTrue("\(e)".hasPrefix("x.png: "), "error names the file", line: line)
            }
        }
        expect(Data(), "empty")
        expect(Data("GIF89a not a png at all".utf8), "not a PNG")
        expect(good.prefix(40), "truncated")
        expect(good.prefix(good.count - 20), "truncated")
        var corrupt = good
        corrupt[30] ^= 0xFF  // inside IHDR: CRC mismatch
        expect(corrupt, "CRC error")
        XCTAssertThrowsError(try PNG.read(path: dir + "/missing.png")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    func testWriteFailuresLeaveNoFile() {
        let img = Image8(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 9, count: 12))
        XCTAssertThrowsError(try PNG.write(img, to: dir + "/no/such/dir/out.png")) { XCTAssertTrue("\($0)".contains("does not exist")) }
        XCTAssertThrowsError(try PNG.write(img, to: dir + "/bad.png", text: [("", "empty key")]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.png"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }
}
