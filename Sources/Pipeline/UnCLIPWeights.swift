// Mirrors the component registry of diffusers pipeline_unclip.py / pipeline_unclip_image_variation.py (`register_modules`,
// `from_pretrained`, `maybe_free_model_hooks`): components are built from one unclip weights file when a stage starts.
import Foundation
import TensorCore
import Models
import Schedulers
import Tokenizer
import WeightIO

/// One unclip weights file (weights/FORMAT.md) as the pipelines use it: configs and tokenizer up front,
/// each network built when its stage first needs it.
///
/// F32 tensors are views of the memory mapping and F16/BF16 ones are widened when a component loads. With
/// ``Residency/staged`` (the default) a run's peak memory is about one stage's weights plus its activations:
/// after a stage its component is dropped and its mapped pages are handed back to the kernel
/// (``WeightFile/releasePages(component:)``). With ``Residency/resident(budgetBytes:)`` the components that fit
/// stay built, so later stages and requests do no loading. Safe to share between concurrent runs.
public final class UnCLIPWeights: @unchecked Sendable {
    /// The mapped file.
    public let file: WeightFile
    /// The checkpoint's CLIP tokenizer (pads with the checkpoint's pad token, Karlo `"!"` = 0).
    public let tokenizer: CLIPTokenizer
    /// The component prefixes present (`text_encoder`, `prior`, …).
    public let components: Set<String>
    /// The decoder's `sample_size` (Karlo: 64).
    public let decoderSampleSize: Int
    /// The super-resolution nets' `sample_size` (Karlo: 256), or `nil` when the file has no super-res nets.
    public let superResSampleSize: Int?
    /// The steps and guidance scales to use where a caller does not choose: the file's `sampling_defaults`,
    /// else diffusers' `UnCLIPPipeline` defaults.
    public let samplingDefaults: SamplingDefaults
    /// How built networks are kept.
    public let residency: Residency
    /// How the networks' matmul weights are held and multiplied (fp32, or bf16 packed at load).
    public let precision: MatmulPrecision
    let decoderConfig: UNetConfiguration
    let superResConfig: UNetConfiguration?
    private let store = ComponentStore()

    /// Opens `path` and reads the configs and the tokenizer (no network is built yet).
    public convenience init(path: String, residency: Residency = .staged, precision: MatmulPrecision = .fp32) throws {
        try self.init(file: try WeightFile(path: path), residency: residency, precision: precision)
    }

    public init(file: WeightFile, residency: Residency = .staged, precision: MatmulPrecision = .fp32) throws {
        // bf16 where it cannot run: the error naming why now, not when a stage first loads.
        if precision == .bf16 { _ = try PrecisionChoice.bf16.resolve() }
        self.file = file
        self.residency = residency
        self.precision = precision
        components = Set((file.metadata["components"] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        })
        for needed in ["text_encoder", "text_proj", "decoder"] where !components.contains(needed) {
            throw PipelineError.missingComponent("weights file \(file.path) has no \(needed) component")
        }
        tokenizer = try CLIPTokenizer(file: file)
        do { samplingDefaults = try SamplingDefaults(json: file.metadata["sampling_defaults"]) } catch {
            throw PipelineError.invalidWeights("weights file \(file.path): \(error)")
        }
        decoderConfig = try Self.unetConfig(file, "decoder")
        guard let s = decoderConfig.sampleSize, s > 0 else {
            throw PipelineError.missingComponent("decoder config has no sample_size")
        }
        decoderSampleSize = s
        if components.contains("super_res_first") && components.contains("super_res_last") {
            let c = try Self.unetConfig(file, "super_res_first")
            guard let h = c.sampleSize, h > 0 else { throw PipelineError.missingComponent("super_res_first config has no sample_size") }
            superResConfig = c
            superResSampleSize = h
        } else {
            superResConfig = nil
            superResSampleSize = nil
        }
        try WeightsConsistency.check(file, components: components, tokenizer: tokenizer, decoder: decoderConfig,
                                     superRes: superResConfig)
    }

    private static func unetConfig(_ file: WeightFile, _ component: String) throws -> UNetConfiguration {
        let json = try file.requireMetadata(component + ".config")
        do { return try JSONDecoder().decode(UNetConfiguration.self, from: Data(json.utf8)) } catch {
            throw PipelineError.missingComponent("\(component) config is invalid: \(error)")
        }
    }

    /// Whether text-to-image is possible (a prior is present).
    public var supportsTextToImage: Bool { components.contains("prior") }
    /// Whether image variations are possible (a CLIP vision tower is present).
    public var supportsVariations: Bool { components.contains("image_encoder") }

    /// The output side length for `size`.
    public func sideLength(_ size: OutputSize) throws -> Int {
        switch size {
        case .decoder: return decoderSampleSize
        case .superRes:
            guard let s = superResSampleSize else {
                throw PipelineError.missingComponent("weights file \(file.path) has no super-resolution nets (super_res_first, super_res_last)")
            }
            return s
        }
    }

    /// The stage's `scheduler_config.json` text stored in the file.
    public func schedulerConfig(for stage: Stage) throws -> Data {
        guard let text = file.metadata[stage.schedulerConfigKey] else {
            throw PipelineError.missingComponent("weights file has no \(stage.schedulerConfigKey)")
        }
        return Data(text.utf8)
    }

    /// A scheduler for `stage`.
    ///
    /// - Parameters:
    ///   - name: a ``Schedulers/SchedulerRegistry`` name (`"ddim"`), configured from the stage's config in the file
    ///     as diffusers' `DDIMScheduler.from_config(pipe.decoder_scheduler.config)` does.
    ///   - config: a diffusers `scheduler_config.json` used as is (its `_class_name` picks the class); wins over `name`.
    ///   - eta: DDIM's η, written into the config as the key `eta` (other schedulers ignore the key).
    /// - Returns: the file's own scheduler for the stage when neither `name` nor `config` is given.
    public func makeScheduler(for stage: Stage, name: String? = nil, config: Data? = nil, eta: Double? = nil,
                              registry: SchedulerRegistry = .standard) throws -> any Scheduler {
        var json = try config ?? schedulerConfig(for: stage)
        if let eta {
            guard var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw SchedulerError.malformedConfig("not a JSON object")
            }
            object["eta"] = eta
            json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        }
        if config == nil, let name { return try registry.make(name: name, config: json) }
        return try registry.make(config: json)
    }

    // MARK: components (each built when its stage starts)

    func require(_ component: String, for purpose: String) throws {
        guard components.contains(component) else {
            throw PipelineError.missingComponent("weights file \(file.path) has no \(component) component, which \(purpose) needs")
        }
    }

    func textEncoder() throws -> CLIPTextModel { try built("text_encoder") { try CLIPTextModel(file: file, precision: precision) } }
    func imageEncoder() throws -> CLIPVisionModel {
        try require("image_encoder", for: "image variations")
        return try built("image_encoder") { try CLIPVisionModel(file: file, precision: precision) }
    }
    func prior() throws -> PriorTransformer {
        try require("prior", for: "text-to-image")
        return try built("prior") { try PriorTransformer(file: file, precision: precision) }
    }
    func textProjection() throws -> TextProjection { try built("text_proj") { try TextProjection(file: file, precision: precision) } }
    func decoder() throws -> UNet { try built("decoder") { try UNet(file: file, component: "decoder", precision: precision) } }
    func superRes(last: Bool) throws -> UNet {
        let name = last ? "super_res_last" : "super_res_first"
        try require(name, for: "the super-resolution stage")
        return try built(name) { try UNet(file: file, component: name, precision: precision) }
    }

    /// Builds a component, or hands out the kept one; F16/BF16 weights were widened into copies, so their mapped
    /// pages are released at once.
    private func built<M>(_ component: String, _ make: () throws -> M) throws -> M {
        func build() throws -> M {
            let m = try make()
            file.releasePagesIfCopied(component: component)
            return m
        }
        guard case .resident(let budget) = residency else { return try build() }
        return try store.component(component, bytes: floatBytes(of: component), budget: budget, make: build)
    }

    /// Drops a finished component's mapped pages from memory, unless it is kept built.
    func release(_ component: String) {
        if !store.isKept(component) { file.releasePages(component: component) }
    }

    /// Bytes of `component`'s weights as float32 (what a built network holds).
    public func floatBytes(of component: String) -> Int {
        let prefix = component + "."
        return file.tensors.reduce(0) { $0 + ($1.key.hasPrefix(prefix) ? $1.value.count * 4 : 0) }
    }

    /// The components kept built (``Residency/resident(budgetBytes:)``), and their float32 bytes.
    public var resident: (components: [String], bytes: Int) { (store.keptNames, store.heldBytes) }

    /// The model's name in PNG metadata and the API: the file's name without its extension.
    public var modelName: String { URL(fileURLWithPath: file.path).deletingPathExtension().lastPathComponent }

    /// Builds every network the file holds, in pipeline order, so the first request does no loading; with
    /// ``Residency/staged`` this only checks that each builds. Returns the components kept built.
    @discardableResult
    public func preload() throws -> [String] {
        for name in ["text_encoder", "image_encoder", "prior", "text_proj", "decoder", "super_res_first", "super_res_last"]
            where components.contains(name) {
            switch name {
            case "text_encoder": _ = try textEncoder()
            case "image_encoder": _ = try imageEncoder()
            case "prior": _ = try prior()
            case "text_proj": _ = try textProjection()
            case "decoder": _ = try decoder()
            default: _ = try superRes(last: name == "super_res_last")
            }
            release(name)
        }
        return store.keptNames
    }

    /// The vision tower's input size (`image_size`, 224 for CLIP ViT-L/14), used as the preprocessing crop size.
    func visionImageSize() throws -> Int {
        try require("image_encoder", for: "image variations")
        let json = try file.requireMetadata("image_encoder.config")
        do { return try JSONDecoder().decode(CLIPVisionConfiguration.self, from: Data(json.utf8)).imageSize } catch {
            throw PipelineError.missingComponent("image_encoder config is invalid: \(error)")
        }
    }
}
