// Mirrors Pillow's `Image.resize(size, Image.LANCZOS)` for 8-bit images (src/libImaging/Resample.c @ Pillow 10–11:
// precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc): a separable
// Lanczos-3 filter widened by the scale when shrinking, 22-bit fixed-point weights, horizontal pass first into 8 bits.
import Foundation

/// Lanczos-3 resampling, byte for byte as Pillow's (checked against Pillow's output in `ResizeTests`).
public enum Resize {
    /// Pillow's fixed-point precision for 8-bit images: `32 − 8 − 2` bits.
    static let precisionBits = 22

    /// `image` (gray or RGB; premultiplied alpha is not handled, so 2 and 4 channels are refused) resized to
    /// `width × height` with Lanczos-3. Returns the image itself when the size is unchanged.
    public static func lanczos(_ image: Image8, width: Int, height: Int) -> Image8 {
        precondition(image.channels == 1 || image.channels == 3, "Lanczos resize takes gray or RGB, got \(image.channels) channels")
        precondition(width > 0 && height > 0, "resize to \(width)×\(height)")
        var current = image
        if width != image.width { current = horizontal(current, to: width) }
        if height != image.height { current = vertical(current, to: height) }
        return current
    }

    /// The Lanczos-3 kernel: sinc(x)·sinc(x/3) on [−3, 3).
    static func lanczos3(_ x: Double) -> Double {
        func sinc(_ x: Double) -> Double { x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x) }
        return (-3 <= x && x < 3) ? sinc(x) * sinc(x / 3) : 0
    }

    /// Per output index: the first input index and the fixed-point weights (Pillow's `precompute_coeffs` + normalisation).
    static func coefficients(inSize: Int, outSize: Int) -> [(start: Int, weights: [Int32])] {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 3 * filterScale
        let ss = 1 / filterScale
        return (0..<outSize).map { xx in
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var k = (0..<max(xmax, 0)).map { lanczos3((Double($0 + xmin) - center + 0.5) * ss) }
            let sum = k.reduce(0, +)
            if sum != 0 { k = k.map { $0 / sum } }
            let one = Double(1 << precisionBits)
            return (xmin, k.map { Int32($0 * one + ($0 < 0 ? -0.5 : 0.5)) })
        }
    }

    /// Pillow's `clip8`: the fixed-point sum (with its rounding half already added) back to a byte.
    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 { UInt8(clamping: v >> precisionBits) }

    static func horizontal(_ image: Image8, to width: Int) -> Image8 {
        let c = image.channels, inW = image.width
        let coeffs = coefficients(inSize: inW, outSize: width)
        var out = [UInt8](repeating: 0, count: width * image.height * c)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                let row = y * inW * c
                for (x, k) in coeffs.enumerated() {
                    for ch in 0..<c {
                        var acc = 1 << (precisionBits - 1)
                        for (i, w) in k.weights.enumerated() { acc += Int(src[row + (k.start + i) * c + ch]) * Int(w) }
                        out[(y * width + x) * c + ch] = clip8(acc)
                    }
                }
            }
        }
        return Image8(width: width, height: image.height, channels: c, pixels: out)
    }

    static func vertical(_ image: Image8, to height: Int) -> Image8 {
        let c = image.channels, w = image.width
        let coeffs = coefficients(inSize: image.height, outSize: height)
        var out = [UInt8](repeating: 0, count: w * height * c)
        image.pixels.withUnsafeBufferPointer { src in
            for (y, k) in coeffs.enumerated() {
                for p in 0..<(w * c) {
                    var acc = 1 << (precisionBits - 1)
                    for (i, wt) in k.weights.enumerated() { acc += Int(src[(k.start + i) * w * c + p]) * Int(wt) }
                    out[y * w * c + p] = clip8(acc)
                }
            }
        }
        return Image8(width: w, height: height, channels: c, pixels: out)
    }
}
