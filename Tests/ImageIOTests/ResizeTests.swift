// Resize.lanczos against Pillow's `Image.resize(size, Image.LANCZOS)` (fixtures from scripts/make_resize_fixtures.py):
// the API's 256 → 512 / 1024 upscales, a non-integer upscale, a widened-filter downscale, one-axis changes, RGB and gray.
import Foundation
import ImageIO
import XCTest

final class ResizeTests: XCTestCase {
    static let cases = ["rgb256_to_512", "rgb256_to_1024", "rgb37_to_100", "rgb256_to_81", "rgb37_to_60x37",
                        "gray37_to_37x90", "gray256_to_512"]

    /// A fixture PNG (decoded as RGBA) with `channels` of its channels kept (1: gray, 3: RGB).
    func picture(_ name: String, channels: Int) throws -> Image8 {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/resize/\(name)", withExtension: "png"), name)
        let rgba = try PNG.decode(try Data(contentsOf: url), name: name).image
        var pixels = [UInt8]()
        pixels.reserveCapacity(rgba.width * rgba.height * channels)
        for i in 0..<(rgba.width * rgba.height) { pixels += rgba.pixels[(i * 4)..<(i * 4 + channels)] }
        return Image8(width: rgba.width, height: rgba.height, channels: channels, pixels: pixels)
    }

    func testMatchesPillowByteForByte() throws {
        for name in Self.cases {
            let channels = name.hasPrefix("gray") ? 1 : 3
            let input = try picture(name + ".in", channels: channels)
            let expected = try picture(name + ".out", channels: channels)
            let got = Resize.lanczos(input, width: expected.width, height: expected.height)
            XCTAssertEqual(got.width, expected.width, name)
            XCTAssertEqual(got.height, expected.height, name)
            let differing = zip(got.pixels, expected.pixels).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) of \(expected.pixels.count) bytes differ from Pillow's")
        }
    }

    func testSameSizeIsIdentity() throws {
        let input = try picture("rgb37_to_100.in", channels: 3)
        XCTAssertEqual(Resize.lanczos(input, width: 37, height: 37), input)
    }
}
