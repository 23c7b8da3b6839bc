// Mirrors diffusers' scheduler swapping (`XScheduler.from_config(pipe.scheduler.config)`, SchedulerMixin._compatibles)
// and the short sampler names of the CLI (`--scheduler ddim`).
import Foundation

/// One name of the registry: a scheduler class plus the settings that name implies
/// (e.g. `"dpmpp-2m-karras"` = `DPMSolverMultistepScheduler` with `use_karras_sigmas`).
public struct SchedulerRegistration: Sendable {
    /// The short name (`"ddim"`).
    public let name: String
    /// diffusers' class name (`"DDIMScheduler"`), matched against a config's `_class_name`.
    public let className: String
    /// One line for `--help` listings.
    public let summary: String
    /// Decodes the class's configuration from JSON and re-encodes it with every key (diffusers' `.config`).
    let fullConfiguration: @Sendable (Data) throws -> Data
    /// Builds the scheduler from JSON, with (`true`) or without the name's adjustments.
    let build: @Sendable (Data, Bool) throws -> any Scheduler

    /// A registration of `type` under `name`; `adjust` edits the decoded configuration (after the JSON).
    public init<S: ConfigurableScheduler>(_ name: String, _ type: S.Type, _ summary: String,
                                          adjust: @escaping @Sendable (inout S.Configuration) -> Void = { _ in }) {
        self.name = name
        self.className = S.className
        self.summary = summary
        fullConfiguration = { json in
            try SchedulerConfigDecoding.encode(SchedulerConfigDecoding.decode(S.Configuration.self, from: json))
        }
        build = { json, adjusted in
            var configuration = try SchedulerConfigDecoding.decode(S.Configuration.self, from: json)
            if adjusted { adjust(&configuration) }
            return try S(configuration: configuration)
        }
    }
}

/// Scheduler names and diffusers class names → configured instances.
///
/// A config from another class is read the way diffusers' `from_config` reads `pipe.scheduler.config`:
/// the source class (its `_class_name`) first fills in its own defaults, then the target class takes the
/// keys it knows. So `make(name: "ddim", config: karloDecoderSchedulerJSON)` gives a DDIM scheduler on
/// Karlo's `squaredcos_cap_v2` chain with Karlo's clipping and prediction type, although Karlo's JSON
/// never spells out `beta_schedule` (it is UnCLIPScheduler's default).
///
/// Adding a scheduler: write `MyScheduler.swift` (a ``ConfigurableScheduler``), then add one line to
/// ``standard``: `SchedulerRegistration("my-name", MyScheduler.self, "what it does")`.
public struct SchedulerRegistry: Sendable {
    public private(set) var registrations: [SchedulerRegistration]

    /// An empty registry.
    public init() { registrations = [] }

    /// The built-in schedulers.
    public static let standard: SchedulerRegistry = {
        var r = SchedulerRegistry()
        r.register(SchedulerRegistration("unclip", UnCLIPScheduler.self, "Karlo's ancestral sampler (diffusers UnCLIPScheduler)"))
        r.register(SchedulerRegistration("ddim", DDIMScheduler.self, "DDIM, deterministic unless eta > 0"))
        r.register(SchedulerRegistration("ddpm", DDPMScheduler.self, "ancestral DDPM (learned_range as unCLIP)"))
        r.register(SchedulerRegistration("dpmpp-2m", DPMSolverMultistepScheduler.self, "DPM-Solver++ 2M") {
            $0.algorithmType = .dpmsolverPlusPlus; $0.solverOrder = 2; $0.solverType = .midpoint; $0.useKarrasSigmas = false
        })
        r.register(SchedulerRegistration("dpmpp-2m-karras", DPMSolverMultistepScheduler.self, "DPM-Solver++ 2M, Karras sigmas") {
            $0.algorithmType = .dpmsolverPlusPlus; $0.solverOrder = 2; $0.solverType = .midpoint; $0.useKarrasSigmas = true
        })
        r.register(SchedulerRegistration("euler-a", EulerAncestralDiscreteScheduler.self, "Euler ancestral (k-diffusion)"))
        return r
    }()

    /// Adds (or replaces, by name) a registration.
    public mutating func register(_ registration: SchedulerRegistration) {
        registrations.removeAll { $0.name == registration.name }
        registrations.append(registration)
    }

    /// The registered short names, in registration order.
    public var names: [String] { registrations.map(\.name) }

    /// The scheduler called `name`, configured from a diffusers `scheduler_config.json` (or defaults when `nil`).
    public func make(name: String, config: Data? = nil) throws -> any Scheduler {
        guard let entry = registrations.first(where: { $0.name == name.lowercased() }) else {
            throw SchedulerError.unknownScheduler(name: name, known: names)
        }
        return try entry.build(try translated(config ?? Data("{}".utf8)), true)
    }

    /// The scheduler class named by the config's `_class_name`, configured exactly as the JSON says.
    public func make(config: Data) throws -> any Scheduler {
        let object = try SchedulerConfigDecoding.object(from: config)
        guard let className = object["_class_name"] as? String else {
            throw SchedulerError.malformedConfig("no \"_class_name\" string: cannot tell which scheduler to build")
        }
        guard let entry = registrations.first(where: { $0.className == className }) else {
            throw SchedulerError.unknownScheduler(name: className, known: knownClassNames)
        }
        return try entry.build(config, false)
    }

    private var knownClassNames: [String] {
        registrations.map(\.className).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// The config with its source class's defaults filled in (diffusers' `scheduler.config`), original keys kept.
    private func translated(_ config: Data) throws -> Data {
        var object = try SchedulerConfigDecoding.object(from: config)
        guard let value = object["_class_name"] else { return config }
        guard let className = value as? String else {
            throw SchedulerError.malformedConfig("\"_class_name\" must be a string")
        }
        guard let source = registrations.first(where: { $0.className == className }) else {
            throw SchedulerError.unknownScheduler(name: className, known: knownClassNames)
        }
        let full = try SchedulerConfigDecoding.object(from: source.fullConfiguration(config))
        object.merge(full) { original, _ in original }
        do {
            return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        } catch {
            throw SchedulerError.malformedConfig("cannot re-encode the config (\(error.localizedDescription))")
        }
    }
}
