// Training-free edits with the unCLIP cascade: GLIDE-style inpainting with RePaint's known-region replacement and
// resampling (Lugmayr et al. 2022; diffusers RePaintPipeline) at the decoder's and super-res's resolutions, SDEdit's
// image-to-image (Meng et al. 2022) where the mask covers everything, and the kept pixels pasted back at full size.
import Foundation
import Models
import Random
import Schedulers
import TensorCore

/// An edit: regenerate the masked part of a picture under a prompt, keeping the rest exactly.
public struct EditRequest {
    /// The picture (square: the API's case; any side, it is resized for the model and pasted back at its own size).
    public var image: InputImage
    /// What to regenerate, at the picture's size (``EditMask/init(alphaOf:)`` for OpenAI's alpha rule).
    public var mask: EditMask
    public var prompt: String
    public var count: Int
    /// The image embedding that conditions the decoder: 0 = the prompt's, through the prior (text-guided fill);
    /// 1 = the picture's own CLIP embedding (variation-style fill, needs an image encoder); between: their slerp.
    public var imageWeight: Float
    /// How far up the chain the picture is noised before denoising, in (0, 1]: 1 starts from pure noise (plain
    /// inpainting); lower keeps more of the picture inside the mask too (SDEdit image-to-image).
    public var strength: Float
    /// RePaint resampling: every `jumpLength` steps, go back up and denoise again, `resamples` times in all (1 = none).
    public var resamples: Int
    public var jumpLength: Int
    /// Feather, in pixels, of the paste inside the edited side (0: hard edge).
    public var maskBlur: Int
    public var prior: StageOptions, decoder: StageOptions, superRes: StageOptions
    public var noise: NoiseMode

    public init(image: InputImage, mask: EditMask, prompt: String, count: Int = 1, imageWeight: Float = 0,
                strength: Float = 1, resamples: Int = 1, jumpLength: Int = 10, maskBlur: Int = 0,
                prior: StageOptions = .priorDefault, decoder: StageOptions = .decoderDefault,
                superRes: StageOptions = .superResDefault, noise: NoiseMode) {
        self.image = image; self.mask = mask; self.prompt = prompt; self.count = count; self.imageWeight = imageWeight
        self.strength = strength; self.resamples = resamples; self.jumpLength = jumpLength; self.maskBlur = maskBlur
        self.prior = prior; self.decoder = decoder; self.superRes = superRes; self.noise = noise
    }
}

/// Inpainting, and image-to-image where nothing is kept, on any unCLIP weights (no inpainting channels needed).
///
/// At the decoder's size the picture is downsampled (antialiased bicubic) and the mask max-pooled; after every step the
/// kept cells are replaced by the picture noised to the sample's level (``KnownRegion``), with RePaint's jumps when
/// `resamples > 1`. Super-resolution does the same at its size, conditioned on the edited small picture. Random draws,
/// per image generator: prior, decoder x_T, per decoder step the scheduler's then the kept part's noise (one more per
/// jump), then the same for super-res. Outside the mask the result is the input, byte for byte.
public final class UnCLIPInpaintPipeline {
    public let weights: UnCLIPWeights

    public init(weights: UnCLIPWeights) throws {
        try weights.require("prior", for: "edits")
        guard weights.superResSampleSize != nil else {
            throw PipelineError.missingComponent("weights file \(weights.file.path) has no super-resolution nets, which edits use")
        }
        self.weights = weights
    }

    public func edit(_ request: EditRequest, hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        let image = request.image
        guard image.width == image.height else {
            throw RequestError(.image, "is \(image.width)×\(image.height): edits take a square picture (pad or crop it first)")
        }
        guard request.mask.width == image.width, request.mask.height == image.height else {
            throw RequestError(.mask, "is \(request.mask.width)×\(request.mask.height), but the image is \(image.width)×\(image.height)")
        }
        guard request.mask.editableCount > 0 else { throw RequestError(.mask, "marks no pixel to edit") }
        guard request.count >= 1 else { throw RequestError(.n, "must be at least 1, got \(request.count)") }
        guard request.strength > 0, request.strength <= 1 else {
            throw RequestError(.strength, "must be in (0, 1], got \(request.strength)")
        }
        guard (0...1).contains(request.imageWeight) else {
            throw RequestError(.imageWeight, "must be in [0, 1], got \(request.imageWeight)")
        }
        guard request.resamples >= 1, request.jumpLength >= 1 else {
            throw RequestError(.resample, "and the jump length must be at least 1, got \(request.resamples), \(request.jumpLength)")
        }
        guard request.maskBlur >= 0, request.maskBlur <= 256 else { throw RequestError(.maskBlur, "must be 0…256, got \(request.maskBlur)") }
        if request.imageWeight > 0 { try weights.require("image_encoder", for: "an image weight above 0") }

        let batch = request.count
        let priorScheduler = request.imageWeight < 1 ? try DenoisingLoop.prepare(request.prior, .prior, weights: weights) : nil
        let cascade = DecoderCascade(weights: weights, hooks: hooks)
        let plan = try cascade.plan(decoder: request.decoder, superRes: request.superRes, size: .superRes)
        for (scheduler, stage) in [(plan.decoder, Stage.decoder), (plan.superRes!, .superRes)] {
            do { _ = try scheduler.chainScheduler() } catch { throw RequestError(.scheduler(stage), ": \(error)") }
        }
        let small = weights.decoderSampleSize, large = weights.superResSampleSize!
        let known = (decoder: try KnownRegion(source: EditImages.source(image, side: small), known: request.mask.known(side: small),
                                              steps: request.decoder.steps, strength: request.strength,
                                              jumpLength: request.jumpLength, resamples: request.resamples),
                     // Super-res always starts from noise: its conditioning is the edited small picture, which a start
                     // from the noised original would contradict inside the mask.
                     superRes: try KnownRegion(source: EditImages.source(image, side: large), known: request.mask.known(side: large),
                                               steps: request.superRes.steps, strength: 1,
                                               jumpLength: request.jumpLength, resamples: request.resamples) as KnownRegion?)
        let guidance = request.prior.guidanceScale > 1 || request.decoder.guidanceScale > 1
        var groups = RowGroups(request.noise, batch: batch)
        let seeds = (0..<batch).map { request.noise.seed(ofImage: $0) }

        try hooks.checkCancelled()
        let text = try PromptEncoding.encode([request.prompt], repeats: batch, guidance: guidance, weights: weights, hooks: hooks)
        try hooks.checkCancelled()
        var embeddings: Tensor?
        if let priorScheduler {
            embeddings = try hooks.during(.stage(.prior)) {
                try UnCLIPPipeline.runPrior(priorScheduler, weights: weights, text: text, guidance: guidance,
                                            scale: request.prior.guidanceScale, groups: &groups, hooks: hooks)
            }
        }
        if request.imageWeight > 0 {
            let own = try UnCLIPImageVariationPipeline.encodeImages([image], repeats: batch, weights: weights, hooks: hooks)
            embeddings = embeddings.map { EditImages.slerp($0, own, weight: request.imageWeight) } ?? own   // [B, D]
        }
        hooks.trace?("image_embeddings", embeddings!)
        let images = try cascade.runStages(plan, imageEmbeddings: embeddings!, text: text, guidance: guidance,
                                           groups: &groups, known: known)        // per group [b, 3, H, H] in [−1, 1]
        let weightsMap = request.mask.blendWeights(blur: request.maskBlur)
        let rows = TensorRows.concat(images)                                     // [B, 3, H, H]
        let pasted = (0..<batch).map { EditImages.paste(rows.rows($0..<($0 + 1)), onto: image, weights: weightsMap) }
        return GenerationResult(images: pasted, pixels: nil, seeds: seeds)
    }
}
