// Mirrors diffusers pipelines/deprecated/unclip/pipeline_unclip_image_variation.py (UnCLIPImageVariationPipeline.__call__
// @ 0.42.1): CLIPImageProcessor → CLIP vision `image_embeds` → decoder (text "") → super-res. No prior.
import Foundation
import Models
import Random
import Schedulers
import TensorCore

/// Image variations: new pictures decoded from the CLIP image embedding of a given picture, numerically
/// following diffusers' `UnCLIPImageVariationPipeline`.
///
/// The text conditioning is the empty prompt for both guidance halves; the halves differ only in the
/// image embedding (the picture's vs the learned unconditional one). Random draws, in order: decoder x_T,
/// decoder step noises, super-res x_T, super-res step noises.
public final class UnCLIPImageVariationPipeline {
    public let weights: UnCLIPWeights

    /// Checks that the file has a CLIP vision tower.
    public init(weights: UnCLIPWeights) throws {
        try weights.require("image_encoder", for: "image variations")
        self.weights = weights
    }

    /// Runs the decoder and super-res stages conditioned on each source picture.
    public func generate(_ request: VariationRequest, hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        guard !request.images.isEmpty else { throw PipelineError.invalidRequest("no input image") }
        guard request.imagesPerImage >= 1 else {
            throw PipelineError.invalidRequest("the image count must be at least 1, got \(request.imagesPerImage)")
        }
        let batch = request.images.count * request.imagesPerImage
        let cascade = DecoderCascade(weights: weights, hooks: hooks)
        let plan = try cascade.plan(decoder: request.decoder, superRes: request.superRes, size: request.size)
        let guidance = request.decoder.guidanceScale > 1
        var groups = RowGroups(request.noise, batch: batch)
        let seeds = (0..<batch).map { request.noise.seed(ofImage: $0) }

        try hooks.checkCancelled()
        let text = try PromptEncoding.encode([String](repeating: "", count: request.images.count),
                                             repeats: request.imagesPerImage, guidance: guidance, weights: weights, hooks: hooks)
        try hooks.checkCancelled()
        let embeddings = try Self.encodeImages(request.images, repeats: request.imagesPerImage, weights: weights,
                                               hooks: hooks)                                    // [B, D]
        hooks.trace?("image_embeddings", embeddings)
        return try cascade.run(plan, imageEmbeddings: embeddings, text: text, guidance: guidance,
                               groups: &groups, seeds: seeds)
    }

    /// `_encode_image`: `feature_extractor(images).pixel_values` → `image_encoder(...).image_embeds`, repeated per image.
    static func encodeImages(_ images: [InputImage], repeats: Int, weights: UnCLIPWeights, hooks: PipelineHooks) throws -> Tensor {
        let size = try weights.visionImageSize()
        let encoder = try hooks.during(.loading("image_encoder")) { try weights.imageEncoder() }
        defer { weights.release("image_encoder") }
        var rows: Tensor?
        for image in images {
            let pixels = CLIPImageProcessor.preprocess(pixels: image.rgb, width: image.width, height: image.height,
                                                       channels: 3, size: size)   // [1, 3, size, size]
            let embeds = encoder(pixelValues: pixels).imageEmbeds                  // [1, D]
            rows = rows.map { TensorRows.concat($0, embeds) } ?? embeds
        }
        return TensorRows.repeatInterleave(rows!, repeats)                          // [B, D]
    }
}

/// An 8-bit picture handed to the variations pipeline (row-major, interleaved channels).
public struct InputImage: Sendable {
    public let width: Int, height: Int
    /// 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    public let pixels: [UInt8]

    /// Checks that `pixels` holds `width × height × channels` bytes.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else { throw PipelineError.invalidRequest("image has no pixels (\(width)×\(height))") }
        guard (1...4).contains(channels) else { throw PipelineError.invalidRequest("image has \(channels) channels (1–4 supported)") }
        guard pixels.count == width * height * channels else {
            throw PipelineError.invalidRequest("image buffer has \(pixels.count) bytes, expected \(width)×\(height)×\(channels)")
        }
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// RGB bytes as PIL's `convert("RGB")` makes them: gray is replicated, alpha is dropped (not composited).
    public var rgb: [UInt8] {
        if channels == 3 { return pixels }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            for c in 0..<3 {
                out[i * 3 + c] = channels >= 3 ? pixels[i * channels + c] : pixels[i * channels]
            }
        }
        return out
    }
}
