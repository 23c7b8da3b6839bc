// The OpenAI images API as dall-e-2 had it (openai/openai-openapi `openapi.yaml`: CreateImageRequest,
// CreateImageEditRequest, CreateImageVariationRequest; ImagesResponse) plus unclip's extensions, checked and turned
// into engine requests. The server only decodes the wire format; every rule on values lives here.
import Foundation
import ImageIO

/// Which images endpoint a call is.
public enum ImagesOperation: String, Sendable {
    case generation, edit, variation
}

/// How the response carries the pictures.
public enum ImagesResponseFormat: String, Sendable {
    case url, b64Json = "b64_json"
}

/// The API's bounds (OpenAI's for dall-e-2), on top of the engine's ``RequestLimits``.
public struct ImagesAPILimits: Sendable, Equatable {
    /// Sides of the delivered pictures (`size` = `"<side>x<side>"`).
    public var sizes = [256, 512, 1024]
    public var defaultSize = 1024
    /// `n`.
    public var maxImages = 10
    public var maxPromptCharacters = 1000
    /// Uploaded `image` and `mask` files: "a valid PNG file, less than 4MB".
    public var maxFileBytes = 4 << 20
    /// `partial_images` when streaming.
    public var maxPartialImages = 3
    /// Steps, input pixels and aspect ratio.
    public var engine = RequestLimits.standard

    public init() {}
    public static let openAI = ImagesAPILimits()
}

/// One call of the images API, as decoded from JSON or a multipart form; `nil` = not sent.
public struct ImagesCall: Sendable {
    public var operation: ImagesOperation
    public var prompt: String?
    /// The uploaded PNGs, as sent (`image`, or each `image[]`).
    public var images: [Data] = []
    public var mask: Data?
    public var n: Int?
    /// `"256x256"`, `"512x512"` or `"1024x1024"`.
    public var size: String?
    public var responseFormat: String?
    public var model: String?
    public var user: String?
    public var stream: Bool?
    public var partialImages: Int?
    /// Extensions: `seed` and the per-stage `*_steps`, `*_guidance_scale`, `*_scheduler` (``GenerationOptions``;
    /// its count and size come from ``n`` and ``size``).
    public var options = GenerationOptions()
    /// Edit extensions: `strength` (image-to-image below 1; an opaque picture then needs no mask), `image_weight`,
    /// `resample`, `mask_blur`.
    public var strength: Double?, imageWeight: Double?, resample: Int?, maskBlur: Int?

    public init(operation: ImagesOperation) { self.operation = operation }
}

/// A checked call, ready to run on the engine that prepared it (``UnCLIPEngine/prepare(_:limits:policy:)``).
public struct PreparedImagesCall {
    public let operation: ImagesOperation
    public let count: Int
    /// The delivered side (`size`).
    public let side: Int
    public let responseFormat: ImagesResponseFormat
    public let stream: Bool
    public let partialImages: Int
    /// Steps, guidance, schedulers and the seed (image k uses seed + k).
    public let resolved: ResolvedRequest
    enum Job { case text(TextToImageRequest), variation(VariationRequest), edit(EditRequest) }
    let job: Job
    let extraParameters: [(String, String)]
    let model: String

    /// Where the partial images are sent, as fractions of the run: k/(p+1) for k = 1…p.
    var partialTargets: [Double] { partialImages == 0 ? [] : (1...partialImages).map { Double($0) / Double(partialImages + 1) } }

    /// How far a run is after `step` of `stepCount` in `stage`, in [0, 1]: the decoder and super-res share the run
    /// by their step counts.
    func position(_ stage: Stage, step: Int, stepCount: Int) -> Double {
        let d = Double(resolved.settings.decoderSteps)
        let s = resolved.superResLabel == nil ? 0 : Double(resolved.settings.superResSteps)
        let share = d / (d + s), f = Double(step) / Double(max(stepCount, 1))
        return stage == .superRes ? share + (1 - share) * f : share * f
    }
}

/// A delivered picture: RGB at the requested side, its seed and its PNG `parameters` text.
public struct DeliveredImage: Sendable {
    public let image: Image8
    public let seed: UInt64
    public let parameters: GenerationParameters
    /// The PNG file, with the `parameters` text chunk.
    public func png() throws -> Data { try PNG.encode(image, text: [("parameters", parameters.text)]) }
}

/// A preview sent while streaming: the x̂₀ of a decoder or super-res step, at the requested side.
public struct PartialImage: Sendable {
    /// 0-based, in the order sent.
    public let index: Int
    public let image: Image8
    public let stage: Stage
    public let step: Int
}

extension UnCLIPEngine {
    /// The model's name in the API (`GET /v1/models`, `model`): the weights file's name without its extension.
    public var modelName: String { weights.modelName }

    /// Checks every field of `call` (decoding its PNGs), applies `policy` to the prompt and resolves the request
    /// against the weights, all before any compute. Throws ``RequestError`` naming the field (OpenAI's `param`),
    /// ``ContentPolicyViolation``, ``ModerationFailure`` or a ``PipelineError`` when the weights lack a component.
    public func prepare(_ call: ImagesCall, limits: ImagesAPILimits = .openAI,
                        policy: PromptPolicy = .open) throws -> PreparedImagesCall {
        if let model = call.model, !["dall-e-2", modelName].contains(model) {
            throw RequestError(.model, "'\(model)' is not served here: use dall-e-2 or \(modelName)")
        }
        var prompt = ""
        if call.operation != .variation {
            guard let p = call.prompt else { throw RequestError(.prompt, "is required") }
            guard !p.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw RequestError(.prompt, "is empty") }
            guard p.count <= limits.maxPromptCharacters else {
                throw RequestError(.prompt, "is \(p.count) characters; the maximum length is \(limits.maxPromptCharacters)")
            }
            prompt = p
        } else if call.prompt != nil {
            throw RequestError(.prompt, "does not apply to variations")
        }
        let count = call.n ?? 1
        guard (1...limits.maxImages).contains(count) else { throw RequestError(.n, "must be between 1 and \(limits.maxImages), got \(count)") }
        let side = try Self.side(call.size, limits)
        let format: ImagesResponseFormat
        if let f = call.responseFormat {
            guard let parsed = ImagesResponseFormat(rawValue: f) else {
                throw RequestError(.responseFormat, "must be url or b64_json, got '\(f)'")
            }
            format = parsed
        } else { format = .url }
        let stream = call.stream ?? false
        if let p = call.partialImages {
            guard stream else { throw RequestError(.partialImages, "applies only with stream: true") }
            guard (0...limits.maxPartialImages).contains(p) else {
                throw RequestError(.partialImages, "must be between 0 and \(limits.maxPartialImages), got \(p)")
            }
        }
        if call.operation != .edit {
            for (value, field) in [(call.strength != nil, RequestField.strength), (call.imageWeight != nil, .imageWeight),
                                   (call.resample != nil, .resample), (call.maskBlur != nil, .maskBlur), (call.mask != nil, .mask)] where value {
                throw RequestError(field, "applies to edits only")
            }
        }
        if call.operation == .generation {
            guard call.images.isEmpty else { throw RequestError(.image, "does not apply to generations (use /v1/images/edits or /variations)") }
        } else {
            guard !call.images.isEmpty else { throw RequestError(.image, "is required") }
            guard call.images.count == 1 else { throw RequestError(.image, "takes one picture, got \(call.images.count)") }
        }
        let image = try call.images.first.map { try Self.picture($0, .image, limits) }
        if let image, image.width != image.height {
            throw RequestError(.image, "is \(image.width)×\(image.height); it must be square")
        }
        let mask = try call.mask.map { try Self.picture($0, .mask, limits) }
        if let mask, let image, mask.width != image.width || mask.height != image.height {
            throw RequestError(.mask, "is \(mask.width)×\(mask.height), but the image is \(image.width)×\(image.height): they must have the same size")
        }
        if call.operation != .variation { try policy.check(prompt) }

        var options = call.options
        options.count = count
        options.size = nil
        let input: RequestInput = call.operation == .variation ? .image(image!, name: "upload") : .prompt(prompt)
        let resolved = try weights.resolve(input, options, limits: limits.engine)
        let job: PreparedImagesCall.Job
        var extra: [(String, String)] = []
        switch call.operation {
        case .generation: job = .text(resolved.textToImage!)
        case .variation: job = .variation(resolved.variation!)
        case .edit:
            let (request, parameters) = try Self.edit(call, image: image!, mask: mask, prompt: prompt, resolved: resolved)
            job = .edit(request)
            extra = parameters
        }
        let native = weights.superResSampleSize ?? weights.decoderSampleSize
        let inputSide = call.operation == .edit ? image!.width : native
        if inputSide != side { extra.append(("Resize", "Lanczos-3 \(inputSide)→\(side)")) }
        return PreparedImagesCall(operation: call.operation, count: count, side: side, responseFormat: format, stream: stream,
                                  partialImages: stream ? (call.partialImages ?? 0) : 0, resolved: resolved, job: job,
                                  extraParameters: extra, model: modelName)
    }

    /// Runs a prepared call in a slot of its own; `partial` receives the streaming previews.
    public func run(_ call: PreparedImagesCall, control: RunControl? = nil, hooks: PipelineHooks = PipelineHooks(),
                    partial: ((PartialImage) -> Void)? = nil) throws -> [DeliveredImage] {
        var hooks = hooks
        let targets = call.partialTargets
        if let partial, !targets.isEmpty {
            var sent = 0
            hooks.previewInterval = 1
            hooks.preview = { p in
                let position = call.position(p.stage, step: p.step, stepCount: p.stepCount)
                guard sent < targets.count, position >= targets[sent] - 1e-9, let first = p.images.first else { return }
                let picture = Image8(width: first.width, height: first.height, channels: 3, pixels: first.pixels)
                partial(PartialImage(index: sent, image: Resize.lanczos(picture, width: call.side, height: call.side),
                                     stage: p.stage, step: p.step))
                sent += 1
            }
        }
        let result: GenerationResult
        switch call.job {
        case .text(let r): result = try generate(r, control: control, hooks: hooks)
        case .variation(let r): result = try variations(r, control: control, hooks: hooks)
        case .edit(let r): result = try edit(r, control: control, hooks: hooks)
        }
        return result.images.enumerated().map { i, generated in
            let picture = Image8(width: generated.width, height: generated.height, channels: 3, pixels: generated.pixels)
            let image = Resize.lanczos(picture, width: call.side, height: call.side)
            var parameters = call.resolved.parameters(ofImage: i, width: call.side, height: call.side, model: call.model)
            parameters.extra += call.extraParameters
            return DeliveredImage(image: image, seed: result.seeds[i], parameters: parameters)
        }
    }

    /// `"NxN"` with N one of the API's sides (nil: the default).
    static func side(_ size: String?, _ limits: ImagesAPILimits) throws -> Int {
        guard let size else { return limits.defaultSize }
        let names = limits.sizes.map { "\($0)x\($0)" }
        guard let i = names.firstIndex(of: size) else {
            throw RequestError(.size, "must be one of \(names.joined(separator: ", ")), got '\(size)'")
        }
        return limits.sizes[i]
    }

    /// An uploaded file as a picture: a PNG (by its signature, whatever its name or content type says), under the
    /// byte limit, within the engine's pixel limits.
    static func picture(_ data: Data, _ field: RequestField, _ limits: ImagesAPILimits) throws -> InputImage {
        guard data.count < limits.maxFileBytes else {
            throw RequestError(field, "is \(data.count) bytes: it must be a PNG file of less than \(limits.maxFileBytes >> 20) MB")
        }
        guard data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw RequestError(field, "must be a PNG file (its bytes do not start with the PNG signature)")
        }
        let decoded: PNG.Decoded
        do { decoded = try PNG.decode(data, name: field.rawValue, maxPixels: limits.engine.maxImagePixels) } catch let e as PNGError {
            throw RequestError(field, "is not a valid PNG file: \(e.reason)")
        }
        let image = try InputImage(width: decoded.image.width, height: decoded.image.height, channels: decoded.image.channels,
                                   pixels: decoded.image.pixels)
        try RequestInput.image(image, name: field.rawValue).validate(limits: limits.engine)
        return image
    }

    /// The edit request: OpenAI's alpha rule on the mask (or, without one, on the picture; with `strength` below 1 an
    /// opaque picture is edited everywhere, image-to-image).
    static func edit(_ call: ImagesCall, image: InputImage, mask: InputImage?, prompt: String,
                     resolved: ResolvedRequest) throws -> (EditRequest, [(String, String)]) {
        let strength = call.strength ?? 1
        guard strength > 0, strength <= 1 else { throw RequestError(.strength, "must be in (0, 1], got \(strength)") }
        if let w = call.imageWeight, !(0...1).contains(w) { throw RequestError(.imageWeight, "must be in [0, 1], got \(w)") }
        if let r = call.resample, !(1...10).contains(r) { throw RequestError(.resample, "must be between 1 and 10, got \(r)") }
        if let b = call.maskBlur, !(0...256).contains(b) { throw RequestError(.maskBlur, "must be between 0 and 256, got \(b)") }
        let editMask: EditMask
        if let mask {
            editMask = EditMask(alphaOf: mask, wholeIfOpaque: false)
            guard editMask.editableCount > 0 else {
                throw RequestError(.mask, "has no fully transparent pixel (alpha 0): its transparent areas mark where the image is edited")
            }
        } else {
            editMask = EditMask(alphaOf: image, wholeIfOpaque: strength < 1)
            guard editMask.editableCount > 0 else {
                throw RequestError(.image, "has no fully transparent pixel (alpha 0) and no mask was given: send a mask, "
                    + "or an RGBA picture whose transparent areas mark where to edit")
            }
        }
        let base = resolved.textToImage!
        let request = EditRequest(image: image, mask: editMask, prompt: prompt, count: resolved.count,
                                  imageWeight: Float(call.imageWeight ?? 0), strength: Float(strength),
                                  resamples: call.resample ?? 1, jumpLength: 10, maskBlur: call.maskBlur ?? 0,
                                  prior: base.prior, decoder: base.decoder, superRes: base.superRes, noise: base.noise)
        let parameters: [(String, String)] = [("Edit of", "upload"), ("Mask", mask == nil ? "image alpha" : "mask alpha"),
                                              ("Edited pixels", "\(editMask.editableCount)"), ("Strength", "\(strength)"),
                                              ("Image weight", "\(call.imageWeight ?? 0)"), ("Resample", "\(call.resample ?? 1)"),
                                              ("Mask blur", "\(call.maskBlur ?? 0)")]
        return (request, parameters)
    }
}
