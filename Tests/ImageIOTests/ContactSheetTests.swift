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

    func testLongTitleWrapsToTheGridWidth() {
        XCTAssertEqual(ContactSheet.wrap("a red circle on a blue background", width: 12), ["a red circle", "on a blue", "background"])
        XCTAssertEqual(ContactSheet.wrap("abcdefghij", width: 4), ["abcd", "efgh", "ij"])
        XCTAssertEqual(ContactSheet.wrap("", width: 4), [""])
        let cell = Image8(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 0, count: 8 * 8 * 3))
        let sheet = ContactSheet.make(cells: [[cell, cell]], rowLabels: ["ddim"], columnLabels: ["5", "10"], cellSize: 8,
                                      title: "a red circle on a blue background")
        // Width 4·6 + 8 + 2·12 + 4 = 60 → 8 characters a line: a red / circle / on a / blue / backgrou / nd.
        let line = BitmapFont.height + 4
        XCTAssertEqual(sheet.width, 60)
        XCTAssertEqual(sheet.height, line + 6 * line + 4 + 12 + 4)
        let lastTitleLine = (4 + 5 * line)..<(4 + 5 * line + BitmapFont.height)
        XCTAssertTrue((0..<sheet.width).contains { x in lastTitleLine.contains { sheet.pixels[($0 * sheet.width + x) * 3] == 0 } },
                      "the sixth title line is drawn")
    }
}
