// The image side of edits, after GLIDE's inpainting notebook and RePaint's data handling: the source in [−1, 1] at each
// stage's size (antialiased bicubic, as diffusers' super-res upsample), the mask max-pooled (a cell is edited if any
// pixel under it is), and the final paste of the kept pixels at the input's resolution with an optional feather.
import Foundation
import TensorCore

/// Which pixels of a picture an edit may change.
public struct EditMask: Sendable, Equatable {
    public let width: Int, height: Int
    /// Row-major, `true` = regenerate.
    public let editable: [Bool]

    public init(width: Int, height: Int, editable: [Bool]) throws {
        guard editable.count == width * height else {
            throw PipelineError.invalidRequest("mask has \(editable.count) values for a \(width)×\(height) picture")
        }
        self.width = width; self.height = height; self.editable = editable
    }

    /// OpenAI's rule: where alpha is 0 the picture is edited. For the picture's own alpha (`wholeIfOpaque`), a picture
    /// without alpha or with no transparent pixel is edited everywhere (image-to-image); a separate mask with no
    /// transparent pixel marks nothing (and the edit is refused).
    public init(alphaOf image: InputImage, wholeIfOpaque: Bool = true) {
        width = image.width; height = image.height
        let n = image.width * image.height
        guard image.channels == 2 || image.channels == 4 else {
            editable = [Bool](repeating: wholeIfOpaque, count: n); return
        }
        let alpha = (0..<n).map { image.pixels[$0 * image.channels + image.channels - 1] }
        editable = alpha.contains(0) || !wholeIfOpaque ? alpha.map { $0 == 0 } : [Bool](repeating: true, count: n)
    }

    /// A black-and-white mask picture: white (luma ≥ 128) = edit, the convention of Stable Diffusion front ends.
    public init(whiteOf image: InputImage) {
        width = image.width; height = image.height
        let rgb = image.rgb
        editable = (0..<(image.width * image.height)).map { i in
            let luma = (299 * Int(rgb[i * 3]) + 587 * Int(rgb[i * 3 + 1]) + 114 * Int(rgb[i * 3 + 2])) / 1000
            return luma >= 128
        }
    }

    /// Editable pixels.
    public var editableCount: Int { editable.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Known-pixel weights at `side × side` (the mask is square): a cell is edited (weight 0) when any source pixel
    /// under it is, so an edit never leaks into a cell that only partly belongs to the kept region.
    func known(side: Int) -> [Float] {
        var out = [Float](repeating: 1, count: side * side)
        for y in 0..<side {
            let y0 = y * height / side, y1 = max(y0 + 1, ((y + 1) * height + side - 1) / side)
            for x in 0..<side {
                let x0 = x * width / side, x1 = max(x0 + 1, ((x + 1) * width + side - 1) / side)
                search: for sy in y0..<min(y1, height) {
                    for sx in x0..<min(x1, width) where editable[sy * width + sx] {
                        out[y * side + x] = 0
                        break search
                    }
                }
            }
        }
        return out
    }

    /// Weight of the generated picture per pixel: 0 on kept pixels; on edited ones min(1, d / (blur + 1)) with d the
    /// chessboard-free (3-4 chamfer) distance to the nearest kept pixel, so the seam softens inside the edit only.
    func blendWeights(blur: Int) -> [Float] {
        guard blur > 0 else { return editable.map { $0 ? 1 : 0 } }
        let big = Int.max / 4
        var d = editable.map { $0 ? big : 0 }
        let w = width, h = height
        for y in 0..<h { for x in 0..<w where d[y * w + x] > 0 {      // forward pass
            var v = d[y * w + x]
            if x > 0 { v = min(v, d[y * w + x - 1] + 3) }
            if y > 0 { v = min(v, d[(y - 1) * w + x] + 3); if x > 0 { v = min(v, d[(y - 1) * w + x - 1] + 4) }
                       if x + 1 < w { v = min(v, d[(y - 1) * w + x + 1] + 4) } }
            d[y * w + x] = v
        } }
        for y in stride(from: h - 1, through: 0, by: -1) { for x in stride(from: w - 1, through: 0, by: -1) where d[y * w + x] > 0 {
            var v = d[y * w + x]
            if x + 1 < w { v = min(v, d[y * w + x + 1] + 3) }
            if y + 1 < h { v = min(v, d[(y + 1) * w + x] + 3); if x + 1 < w { v = min(v, d[(y + 1) * w + x + 1] + 4) }
                           if x > 0 { v = min(v, d[(y + 1) * w + x - 1] + 4) } }
            d[y * w + x] = v
        } }
        let scale = 1 / (3 * Float(blur + 1))
        return d.map { $0 == 0 ? 0 : ($0 >= big ? 1 : min(1, Float($0) * scale)) }
    }
}

enum EditImages {
    /// `[1, 3, side, side]` in [−1, 1]: the picture's RGB resized with antialiased bicubic (x/127.5 − 1 first).
    static func source(_ image: InputImage, side: Int) -> Tensor {
        let rgb = image.rgb, w = image.width, h = image.height
        let x = Tensor(uninitialized: [1, 3, h, w])                              // [1, 3, H, W]
        for c in 0..<3 { for p in 0..<(w * h) { x.data[c * w * h + p] = Float(rgb[p * 3 + c]) / 127.5 - 1 } }
        if w == side && h == side { return x }
        return Ops.resizeBicubic(x, height: side, width: side, antialias: true)  // [1, 3, side, side]
    }

    /// Generated `[1, 3, S, S]` in [−1, 1] → 8-bit RGB at the input's size, kept pixels copied from the input byte for
    /// byte, edited ones blended by `weights` (``EditMask/blendWeights(blur:)``).
    static func paste(_ generated: Tensor, onto image: InputImage, weights: [Float]) -> GeneratedImage {
        let w = image.width, h = image.height
        let sized = generated.shape[2] == h && generated.shape[3] == w
            ? generated : Ops.resizeBicubic(generated, height: h, width: w, antialias: true)   // [1, 3, H, W]
        let gen = ImagePostprocess.toImages(ImagePostprocess.toUnitNHWC(sized))[0].pixels
        let src = image.rgb
        var out = src
        for p in 0..<(w * h) where weights[p] > 0 {
            for c in 0..<3 {
                let v = weights[p] * Float(gen[p * 3 + c]) + (1 - weights[p]) * Float(src[p * 3 + c])
                out[p * 3 + c] = UInt8(clamping: Int(v.rounded()))
            }
        }
        return GeneratedImage(width: w, height: h, pixels: out)
    }

    /// `slerp(w, a, b)` per row, as diffusers' unCLIP image-interpolation pipeline: the angle of the normalised
    /// vectors, applied to the vectors themselves; a linear mix when they are (anti)parallel.
    static func slerp(_ a: Tensor, _ b: Tensor, weight w: Float) -> Tensor {
        if w <= 0 { return a }
        if w >= 1 { return b }
        let rows = a.shape[0], d = a.count / rows
        let y = Tensor(uninitialized: a.shape)
        for r in 0..<rows {
            let pa = a.data + r * d, pb = b.data + r * d
            var dot = 0.0, na = 0.0, nb = 0.0
            for i in 0..<d { dot += Double(pa[i] * pb[i]); na += Double(pa[i] * pa[i]); nb += Double(pb[i] * pb[i]) }
            let cos = max(-1, min(1, dot / max((na * nb).squareRoot(), 1e-30)))
            let omega = acos(cos), so = sin(omega)
            let (ca, cb) = so < 1e-6 ? (1 - Double(w), Double(w)) : (sin((1 - Double(w)) * omega) / so, sin(Double(w) * omega) / so)
            for i in 0..<d { y.data[r * d + i] = Float(ca) * pa[i] + Float(cb) * pb[i] }
        }
        return y
    }
}
