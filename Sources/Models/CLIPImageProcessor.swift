// Mirrors transformers CLIPImageProcessor defaults on the PIL path (CLIPImageProcessorPil): shortest edge to
// 224 with PIL's fixed-point antialiased bicubic (Pillow src/libImaging/Resample.c), floor-centred 224 crop,
// ×1/255, CLIP mean/std. The resize reproduces Pillow's uint8 arithmetic (22-bit coefficients, clip per pass).
import Foundation
import TensorCore

/// CLIP image preprocessing.
public enum CLIPImageProcessor {
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// RGB(A) 8-bit pixels (row-major, interleaved) → `[1, 3, size, size]` normalised pixel values.
    public static func preprocess(pixels: [UInt8], width: Int, height: Int, channels: Int, size: Int = 224) -> Tensor {
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels, "bad image buffer")
        // Shortest edge → size; the long edge is int(size · long / short) (transformers get_resize_output_image_size).
        let (nw, nh) = width <= height ? (size, Int(Double(size) * Double(height) / Double(width)))
                                       : (Int(Double(size) * Double(width) / Double(height)), size)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { for c in 0..<3 { rgb[i * 3 + c] = pixels[i * channels + min(c, channels - 1)] } }
        let resized = PILResample.bicubic(rgb, width: width, height: height, toWidth: nw, toHeight: nh)
        let top = (nh - size) / 2, left = (nw - size) / 2
        let out = Tensor(uninitialized: [1, 3, size, size])
        for c in 0..<3 {
            for y in 0..<size {
                for x in 0..<size {
                    let v = Float(Double(resized[((y + top) * nw + x + left) * 3 + c]) * (1.0 / 255.0))
                    out.data[(c * size + y) * size + x] = (v - mean[c]) / std[c]
                }
            }
        }
        return out
    }
}

/// Pillow's `ImagingResample` for 8-bit RGB with the BICUBIC filter (a = −0.5): horizontal pass then vertical.
enum PILResample {
    static let precisionBits = 32 - 8 - 2

    static func filter(_ v: Double) -> Double {
        let a = -0.5, x = abs(v)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Per output position: first input index, tap count, fixed-point coefficients.
    static func coefficients(inSize: Int, outSize: Int) -> (bounds: [(Int, Int)], kk: [Int32], ksize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterscale = max(scale, 1), support = 2 * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [(Int, Int)](), kk = [Int32](repeating: 0, count: outSize * ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale, ss = 1 / filterscale
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5)) - xmin
            var k = [Double](repeating: 0, count: xmax), ww = 0.0
            for x in 0..<xmax { k[x] = filter((Double(x + xmin) - center + 0.5) * ss); ww += k[x] }
            for x in 0..<xmax {
                let w = ww != 0 ? k[x] / ww : k[x]
                let f = w * Double(1 << precisionBits)
                kk[xx * ksize + x] = Int32(w < 0 ? Int(-0.5 + f) : Int(0.5 + f))
            }
            bounds.append((xmin, xmax))
        }
        return (bounds, kk, ksize)
    }

    @inline(__always) static func clip8(_ v: Int) -> UInt8 {
        let s = v >> precisionBits
        return UInt8(s < 0 ? 0 : s > 255 ? 255 : s)
    }

    static func bicubic(_ src: [UInt8], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [UInt8] {
        var img = src, w = width
        if toWidth != width {
            let (b, kk, ks) = coefficients(inSize: width, outSize: toWidth)
            var out = [UInt8](repeating: 0, count: toWidth * height * 3)
            for y in 0..<height { for xx in 0..<toWidth { for c in 0..<3 {
                var ss = 1 << (precisionBits - 1)
                for x in 0..<b[xx].1 { ss += Int(img[(y * w + x + b[xx].0) * 3 + c]) * Int(kk[xx * ks + x]) }
                out[(y * toWidth + xx) * 3 + c] = clip8(ss)
            } } }
            img = out; w = toWidth
        }
        if toHeight != height {
            let (b, kk, ks) = coefficients(inSize: height, outSize: toHeight)
            var out = [UInt8](repeating: 0, count: w * toHeight * 3)
            for yy in 0..<toHeight { for x in 0..<w { for c in 0..<3 {
                var ss = 1 << (precisionBits - 1)
                for y in 0..<b[yy].1 { ss += Int(img[((y + b[yy].0) * w + x) * 3 + c]) * Int(kk[yy * ks + y]) }
                out[(yy * w + x) * 3 + c] = clip8(ss)
            } } }
            img = out
        }
        return img
    }
}
