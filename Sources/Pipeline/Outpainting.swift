// Outpainting as DALL·E 2's editor does it (a generation frame that overlaps the existing picture; the Karlo/GLIDE
// recipe of unclip-architecture.md §4.3.6): the canvas grows, and overlapping square windows are inpainted one at a time,
// each from the pixels already there, until nothing is left blank.
import Foundation
import TensorCore

/// Grow a picture's canvas and fill the new area.
public struct OutpaintRequest {
    public var image: InputImage
    /// Pixels added on each side (≥ 0, at least one > 0).
    public var left: Int, right: Int, top: Int, bottom: Int
    public var prompt: String
    /// As ``EditRequest``: conditioning mix and RePaint resampling. (No feather: the blank side has nothing to blend with.)
    public var imageWeight: Float, resamples: Int, jumpLength: Int
    public var prior: StageOptions, decoder: StageOptions, superRes: StageOptions
    /// Window k (in fill order) uses its own generator seeded seed + k.
    public var seed: UInt64

    public init(image: InputImage, left: Int = 0, right: Int = 0, top: Int = 0, bottom: Int = 0, prompt: String,
                imageWeight: Float = 0, resamples: Int = 1, jumpLength: Int = 10,
                prior: StageOptions = .priorDefault, decoder: StageOptions = .decoderDefault,
                superRes: StageOptions = .superResDefault, seed: UInt64) {
        self.image = image; self.left = left; self.right = right; self.top = top; self.bottom = bottom; self.prompt = prompt
        self.imageWeight = imageWeight; self.resamples = resamples; self.jumpLength = jumpLength
        self.prior = prior; self.decoder = decoder; self.superRes = superRes; self.seed = seed
    }

    /// The largest canvas side.
    public static let maxSide = 2048
}

/// Where the windows go: a grid of `side`-pixel squares whose stride leaves at least a quarter of each window over
/// its neighbour, the last row and column flush with the canvas edge.
struct OutpaintWindows {
    let width: Int, height: Int, side: Int

    var positions: [(x: Int, y: Int)] {
        func starts(_ length: Int) -> [Int] {
            let stride = max(1, side * 3 / 4)
            var s = Array(Swift.stride(from: 0, through: max(0, length - side), by: stride))
            if let last = s.last, last + side < length { s.append(length - side) }
            return s
        }
        return starts(height).flatMap { y in starts(width).map { (x: $0, y: y) } }
    }

    /// The next window to fill: among those with a blank pixel, the one with the largest known share (ties: first in
    /// reading order); nil when the canvas is full.
    func next(known: [Bool]) -> (x: Int, y: Int, knownShare: Double)? {
        var best: (x: Int, y: Int, knownShare: Double)?
        for (x, y) in positions {
            var k = 0
            for yy in y..<(y + side) { for xx in x..<(x + side) where known[yy * width + xx] { k += 1 } }
            let share = Double(k) / Double(side * side)
            if k < side * side, share > (best?.knownShare ?? -1) { best = (x, y, share) }
        }
        return best
    }
}

extension UnCLIPInpaintPipeline {
    /// Fills a grown canvas window by window (each an ``EditRequest`` over the pixels already there). The original
    /// pixels are unchanged; `hooks.progress` reports each window's stages, `hooks.note` each window as it starts.
    public func outpaint(_ request: OutpaintRequest, hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        let margins = [request.left, request.right, request.top, request.bottom]
        guard margins.allSatisfy({ $0 >= 0 }), margins.contains(where: { $0 > 0 }) else {
            throw RequestError(.canvas, "margins must be ≥ 0 with at least one > 0, got left \(request.left), right \(request.right), "
                + "top \(request.top), bottom \(request.bottom)")
        }
        let image = request.image
        let width = image.width + request.left + request.right, height = image.height + request.top + request.bottom
        guard width <= OutpaintRequest.maxSide, height <= OutpaintRequest.maxSide else {
            throw RequestError(.canvas, "would be \(width)×\(height), over the limit of \(OutpaintRequest.maxSide) pixels a side")
        }
        var canvas = [UInt8](repeating: 0, count: width * height * 3)
        var known = [Bool](repeating: false, count: width * height)
        let rgb = image.rgb
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = (y + request.top) * width + x + request.left
                known[p] = true
                for c in 0..<3 { canvas[p * 3 + c] = rgb[(y * image.width + x) * 3 + c] }
            }
        }
        let windows = OutpaintWindows(width: width, height: height, side: min(weights.superResSampleSize ?? 256, width, height))
        let total = windows.positions.count
        var k = 0
        while let w = windows.next(known: known) {
            try hooks.checkCancelled()
            let s = windows.side
            hooks.note?("outpaint window \(k + 1) (at most \(total)): \(s)² at (\(w.x), \(w.y)), \(Int(w.knownShare * 100))% known")
            var crop = [UInt8](), editable = [Bool](), sum = [0, 0, 0], count = 0
            for y in w.y..<(w.y + s) {
                for x in w.x..<(w.x + s) {
                    let p = y * width + x
                    crop += canvas[(p * 3)..<(p * 3 + 3)]
                    editable.append(!known[p])
                    if known[p] { for c in 0..<3 { sum[c] += Int(canvas[p * 3 + c]) }; count += 1 }
                }
            }
            // Blank pixels take the known pixels' mean colour, so the antialiased downsampling of the known cells next
            // to them is not darkened by black (they are regenerated anyway).
            for i in 0..<(s * s) where editable[i] { for c in 0..<3 { crop[i * 3 + c] = UInt8(sum[c] / max(count, 1)) } }
            let edit = EditRequest(image: try InputImage(width: s, height: s, channels: 3, pixels: crop),
                                   mask: try EditMask(width: s, height: s, editable: editable), prompt: request.prompt,
                                   imageWeight: request.imageWeight, resamples: request.resamples, jumpLength: request.jumpLength,
                                   prior: request.prior, decoder: request.decoder,
                                   superRes: request.superRes, noise: .perImage(seed: request.seed &+ UInt64(k)))
            let filled = try self.edit(edit, hooks: hooks).images[0]
            for y in 0..<s {
                for x in 0..<s where editable[y * s + x] {
                    let p = (w.y + y) * width + w.x + x
                    for c in 0..<3 { canvas[p * 3 + c] = filled.pixels[(y * s + x) * 3 + c] }
                    known[p] = true
                }
            }
            k += 1
        }
        return GenerationResult(images: [GeneratedImage(width: width, height: height, pixels: canvas)], pixels: nil,
                                seeds: [request.seed])
    }
}
