// Mirrors the outputs of diffusers' unCLIP pipelines and their post-processing: `image * 0.5 + 0.5`, clamp, NHWC, then
// diffusers/utils/pil_utils.py `numpy_to_pil`'s rounding.
import Foundation
import Schedulers
import TensorCore

/// What a run produced.
public struct GenerationResult {
    /// One RGB picture per batch row, 8-bit as diffusers' `numpy_to_pil` rounds it.
    public let images: [GeneratedImage]
    /// The seed recorded for each image (see ``NoiseMode/seed(ofImage:)``).
    public let seeds: [UInt64]
    /// The pipeline's float output, when it has one; edits and outpainting, whose pictures are 8-bit pastes at the
    /// input's size, keep none (ten 4096² edits would hold 2 GiB of floats).
    private let floatPixels: Tensor?

    public init(images: [GeneratedImage], pixels: Tensor?, seeds: [UInt64]) {
        self.images = images; self.floatPixels = pixels; self.seeds = seeds
    }

    /// `[B, H, W, 3]` in [0, 1]: diffusers' `output_type="np"` (for 8-bit results, the bytes / 255, made on demand).
    public var pixels: Tensor {
        if let floatPixels { return floatPixels }
        guard let first = images.first else { return Tensor(uninitialized: [0, 0, 0, 3]) }
        let n = first.pixels.count
        let t = Tensor(uninitialized: [images.count, first.height, first.width, 3])   // [B, H, W, 3]
        for (b, image) in images.enumerated() { for i in 0..<n { t.data[b * n + i] = Float(image.pixels[i]) / 255 } }
        return t
    }

    /// The mean of ``pixels`` (diffusers' `images.mean()` with `output_type="np"`), summed in Double: a quick
    /// check that two engines drew the same pictures.
    public var pixelMean: Double {
        var sum = 0.0
        for i in 0..<pixels.count { sum += Double(pixels.data[i]) }
        return pixels.count == 0 ? 0 : sum / Double(pixels.count)
    }
}

/// Why a pipeline run stopped.
public enum PipelineError: Error, CustomStringConvertible, Equatable {
    /// ``PipelineHooks/isCancelled`` returned true.
    case cancelled
    /// The weights file lacks something the run needs.
    case missingComponent(String)
    /// A request value the pipeline cannot use.
    case invalidRequest(String)
    /// The weights file holds a value the pipeline cannot use (e.g. malformed `sampling_defaults`).
    case invalidWeights(String)

    public var description: String {
        switch self {
        case .cancelled: return "cancelled"
        case .missingComponent(let m): return m
        case .invalidRequest(let m): return m
        case .invalidWeights(let m): return m
        }
    }
}

/// An 8-bit RGB picture produced by the pipeline.
public struct GeneratedImage: Sendable, Equatable {
    public let width: Int, height: Int
    /// `width × height × 3` bytes, row-major RGB.
    public let pixels: [UInt8]
}

enum ImagePostprocess {
    /// `[B, 3, H, W]` in [−1, 1] → `[B, H, W, 3]` = clamp(x·0.5 + 0.5, 0, 1), as the pipeline's post-processing.
    static func toUnitNHWC(_ x: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        precondition(c == 3, "expected 3 channels, got \(x.shape)")
        let y = Tensor(uninitialized: [b, h, w, c])                          // [B, H, W, 3]
        for n in 0..<b {
            for ch in 0..<c {
                let src = x.data + (n * c + ch) * h * w
                for p in 0..<(h * w) {
                    let v = src[p] * 0.5 + 0.5                              // two float32 ops, as torch (×0.5 is exact)
                    y.data[(n * h * w + p) * c + ch] = min(max(v, 0), 1)
                }
            }
        }
        return y
    }

    /// `[B, H, W, 3]` in [0, 1] → 8-bit pictures: `(v · 255).round()` with NumPy's half-to-even rounding.
    static func toImages(_ nhwc: Tensor) -> [GeneratedImage] {
        let b = nhwc.shape[0], h = nhwc.shape[1], w = nhwc.shape[2], n = h * w * 3
        return (0..<b).map { i in
            let src = nhwc.data + i * n
            let bytes = (0..<n).map { UInt8(clamping: Int((src[$0] * 255).rounded(.toNearestOrEven))) }
            return GeneratedImage(width: w, height: h, pixels: bytes)
        }
    }

    /// Pictures of a `[B, 3, H, W]` tensor in [−1, 1] (previews of x̂₀).
    static func images(fromSigned x: Tensor) -> [GeneratedImage] {
        toImages(toUnitNHWC(x))
    }
}
