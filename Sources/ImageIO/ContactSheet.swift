// A labelled image grid (rows × columns), the layout of `unclip-run bench pipeline --steps … --schedulers …` sheets;
// after the contact sheets of AUTOMATIC1111's X/Y plot script.

/// Composes RGB images into a labelled grid: row labels on the left, column labels on top.
public enum ContactSheet {
    /// Draws `text` with ``BitmapFont`` at (x, y) into an RGB image, clipped to its bounds.
    public static func draw(_ text: String, into image: inout Image8, x: Int, y: Int, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        precondition(image.channels == 3, "draw needs an RGB image")
        for (k, ch) in text.enumerated() {
            let x0 = x + k * BitmapFont.width
            for r in 0..<BitmapFont.height {
                let bits = BitmapFont.row(ch, r), py = y + r
                guard py >= 0 && py < image.height else { continue }
                for c in 0..<BitmapFont.width where bits & (1 << (BitmapFont.width - 1 - c)) != 0 {
                    let px = x0 + c
                    guard px >= 0 && px < image.width else { continue }
                    let o = (py * image.width + px) * 3
                    image.pixels[o] = color.0; image.pixels[o + 1] = color.1; image.pixels[o + 2] = color.2
                }
            }
        }
    }

    /// `text` broken at spaces into lines of at most `width` characters (a longer word is cut); at least one line.
    public static func wrap(_ text: String, width: Int) -> [String] {
        let width = max(1, width)
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            var rest = Substring(word)
            while rest.count > width {
                if !line.isEmpty { lines.append(line); line = "" }
                lines.append(String(rest.prefix(width)))
                rest = rest.dropFirst(width)
            }
            if line.isEmpty { line = String(rest) } else if line.count + 1 + rest.count <= width { line += " " + rest } else {
                lines.append(line); line = String(rest)
            }
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }

    /// A sheet of `cells[row][column]` (RGB or RGBA; nil = empty cell), each cell `cellSize` square
    /// (images are scaled to it by nearest neighbour), with the given row and column labels.
    ///
    /// Layout (pad 4, line = font height + pad): row labels take `longest · font width + 2·pad` on the left, each
    /// cell `cellSize + pad`, plus `pad` on the right; on top, the title (``wrap(_:width:)`` to the grid's width,
    /// one line per line), the column labels' line and `pad`; each row `cellSize + pad`, plus `pad` at the bottom.
    public static func make(cells: [[Image8?]], rowLabels: [String], columnLabels: [String], cellSize: Int,
                            title: String? = nil) -> Image8 {
        precondition(cells.count == rowLabels.count && cells.allSatisfy { $0.count == columnLabels.count })
        let pad = 4, line = BitmapFont.height + pad
        let left = (rowLabels.map(\.count).max() ?? 0) * BitmapFont.width + 2 * pad
        let w = left + columnLabels.count * (cellSize + pad) + pad
        let titleLines = title.map { wrap($0, width: (w - 2 * pad) / BitmapFont.width) } ?? []
        let top = line + titleLines.count * line + pad
        let h = top + rowLabels.count * (cellSize + pad) + pad
        var sheet = Image8(width: w, height: h, channels: 3, pixels: [UInt8](repeating: 255, count: w * h * 3))
        for (k, text) in titleLines.enumerated() { draw(text, into: &sheet, x: pad, y: pad + k * line) }
        for (j, label) in columnLabels.enumerated() {
            draw(label, into: &sheet, x: left + j * (cellSize + pad), y: top - line)
        }
        for (i, label) in rowLabels.enumerated() {
            let y0 = top + i * (cellSize + pad)
            draw(label, into: &sheet, x: pad, y: y0 + (cellSize - BitmapFont.height) / 2)
            for (j, cell) in cells[i].enumerated() {
                guard let img = cell else { continue }
                let x0 = left + j * (cellSize + pad)
                for y in 0..<cellSize {
                    let sy = y * img.height / cellSize
                    for x in 0..<cellSize {
                        let sx = x * img.width / cellSize, s = (sy * img.width + sx) * img.channels
                        let d = ((y0 + y) * w + x0 + x) * 3
                        for c in 0..<3 { sheet.pixels[d + c] = img.pixels[s + min(c, img.channels - 1)] }
                    }
                }
            }
        }
        return sheet
    }
}
