// Resource bounds of PNG reading (issue #14): a small file declaring a huge image is refused from its IHDR header,
// before any pixel memory is taken; the pixel bound is the caller's; files over the size limit are not read.
import Foundation
import ImageIO
import XCTest

final class PNGLimitTests: XCTestCase {
    /// A valid 1×1 PNG whose IHDR then claims `width × height` (CRC recomputed, so only the size is wrong).
    static func declaring(width: UInt32, height: UInt32) throws -> Data {
        var data = try PNG.encode(Image8(width: 1, height: 1, channels: 3, pixels: [1, 2, 3]))
        for (i, v) in [width, height].enumerated() {
            for b in 0..<4 { data[16 + 4 * i + b] = UInt8((v >> (8 * (3 - UInt32(b)))) & 0xff) }
        }
        let crc = crc32(data[12..<29])                                     // chunk type + 13 data bytes
        for b in 0..<4 { data[29 + b] = UInt8((crc >> (8 * (3 - UInt32(b)))) & 0xff) }
        return data
    }

    static func crc32(_ bytes: Data) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    func testAHugeDeclaredSizeIsRefusedBeforeDecoding() throws {
        let bomb = try Self.declaring(width: 10_000, height: 10_000)
        XCTAssertLessThan(bomb.count, 100)
        XCTAssertThrowsError(try PNG.decode(bomb, name: "bomb.png")) { error in
            XCTAssertEqual("\(error)", "bomb.png: image is 10000x10000 = 100000000 pixels, over the limit of 16777216 pixels")
        }
        XCTAssertThrowsError(try PNG.decode(try Self.declaring(width: 5, height: 5), name: "small.png", maxPixels: 24)) { error in
            XCTAssertTrue("\(error)".contains("image is 5x5 = 25 pixels, over the limit of 24 pixels"), "\(error)")
        }
        // At the limit the header passes and decoding proceeds (here to the missing pixel data of this 1×1 stream).
        XCTAssertThrowsError(try PNG.decode(try Self.declaring(width: 4096, height: 4096), name: "edge.png")) { error in
            XCTAssertFalse("\(error)".contains("over the limit"), "\(error)")
        }
        XCTAssertThrowsError(try PNG.decode(try Self.declaring(width: 20_000, height: 1), name: "wide.png", maxPixels: .max)) { error in
            XCTAssertEqual("\(error)", "wide.png: image is 20000x1, over the limit of 16384 pixels a side")
        }
    }

    /// A 16 KB file whose zTXt chunk inflates to 16 MiB (scripts/make_png_fixtures.py): the chunk is dropped at the
    /// 8 MiB per-chunk bound, the pixels and the small chunk beside it are read.
    func testATextChunkBombIsDropped() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/ztxt_bomb", withExtension: "png"))
        let expected = try Data(contentsOf: try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/ztxt_bomb", withExtension: "rgba")))
        let data = try Data(contentsOf: url)
        XCTAssertLessThan(data.count, 20_000)
        let decoded = try PNG.decode(data, name: "ztxt_bomb.png")
        XCTAssertEqual(decoded.image.pixels, [UInt8](expected))
        XCTAssertNil(decoded.text("bomb"))
        XCTAssertEqual(decoded.text("note"), "kept")
    }

    func testFilesOverTheSizeLimitAreNotRead() throws {
        let path = NSTemporaryDirectory() + "unclip-big-\(getpid()).png"
        defer { unlink(path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: try Self.declaring(width: 1, height: 1)))
        XCTAssertEqual(truncate(path, off_t(PNG.maxFileBytes + 1)), 0)          // sparse: nothing is written
        XCTAssertThrowsError(try PNG.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("file is \(PNG.maxFileBytes + 1) bytes, over the \(PNG.maxFileBytes)-byte limit"), "\(error)")
        }
    }
}
