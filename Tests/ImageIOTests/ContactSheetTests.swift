// Tests of the labelled grid and the bitmap font against Pillow's rendering of the same font.
import Foundation
import ImageIO
import XCTest

final class ContactSheetTests: XCTestCase {
    func testFontGlyphsMatchPillowShapes() {
        // Pillow's courB08 "I" (rows 3…8) is a stem with serifs: equal stem rows, serif rows wider around them.
        let stem = (4..<8).map { BitmapFont.row("I", $0) }
        XCTAssertTrue(stem.allSatisfy { $0 != 0 && $0 == stem[0] }, "\(stem)")
        for serif in [BitmapFont.row("I", 3), BitmapFont.row("I", 8)] {
            XCTAssertEqual(serif & stem[0], stem[0])
            XCTAssertNotEqual(serif, stem[0])
        }
        XCTAssertEqual((0..<BitmapFont.height).map { BitmapFont.row(" ", $0) }, Array(repeating: 0, count: BitmapFont.height))
        XCTAssertEqual(BitmapFont.row("é", 5), BitmapFont.row("?", 5), "non-ASCII draws as ?")
    }

    func testDrawIsClippedAndColoured() {
        var img = Image8(width: 10, height: 8, channels: 3, pixels: [UInt8](repeating: 255, count: 10 * 8 * 3))
        ContactSheet.draw("WW", into: &img, x: -3, y: -2, color: (200, 0, 0))  // partly outside: must not trap
        let red = stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] == 200 && img.pixels[$0 + 1] == 0 }
        XCTAssertFalse(red.isEmpty)
        XCTAssertTrue(stride(from: 0, to: img.pixels.count, by: 3).allSatisfy {
            (img.pixels[$0], img.pixels[$0 + 1]) == (200, 0) || (img.pixels[$0], img.pixels[$0 + 1]) == (255, 255)
        })
    }

    func testGridPlacesScaledCellsUnderTheirLabels() {
        func solid(_ v: UInt8, _ size: Int) -> Image8 {
            Image8(width: size, height: size, channels: 3, pixels: [UInt8](repeating: v, count: size * size * 3))
        }
        let cells: [[Image8?]] = [[solid(10, 4), solid(20, 8)], [nil, solid(30, 16)]]
        let sheet = ContactSheet.make(cells: cells, rowLabels: ["ddim", "unclip"], columnLabels: ["5", "10"], cellSize: 8, title: "sweep")
        let left = 6 * BitmapFont.width + 8, top = 2 * (BitmapFont.height + 4) + 4
        XCTAssertEqual(sheet.width, left + 2 * 12 + 4)
        XCTAssertEqual(sheet.height, top + 2 * 12 + 4)
        func px(_ x: Int, _ y: Int) -> UInt8 { sheet.pixels[(y * sheet.width + x) * 3] }
        XCTAssertEqual(px(left + 3, top + 3), 10)           // row 0, column 0, upscaled 4 → 8
        XCTAssertEqual(px(left + 12 + 7, top + 7), 20)      // row 0, column 1
        XCTAssertEqual(px(left + 3, top + 12 + 3), 255)     // empty cell stays white
        XCTAssertEqual(px(left + 12 + 3, top + 12 + 3), 30) // row 1, column 1, downscaled 16 → 8
        let ink = (0..<left).contains { x in (top..<(top + 8)).contains { px(x, $0) == 0 } }
        XCTAssertTrue(ink, "row label drawn left of the first row")
    }
}
