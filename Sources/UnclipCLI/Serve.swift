// `unclip-run serve`: the OpenAI images API (generations, edits, variations, models, picture URLs, health) on a
// resident engine. Options and start-up only; the server is ImagesServer's, the request rules Pipeline's.
import ArgumentParser
import Foundation
import ImagesServer
import Logging
import Pipeline
import ServiceLifecycle
import PostgresQueue
import TensorCore

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the OpenAI images API (dall-e-2: generations, edits, variations) on this machine.",
        discussion: """
            Point OpenAI code at it by its base URL: OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="…"). \
            Pictures are drawn at the model's size (256² for the built-in model) and resized with Lanczos-3 to the \
            requested 512x512 or 1024x1024. Extensions in the JSON body or form (extra_body in the openai client): \
            seed (image k of n uses seed+k, the same pixels as `unclip-run generate --seed`), prior_steps, \
            decoder_steps, super_res_steps, prior_guidance_scale, decoder_guidance_scale, prior_scheduler, \
            decoder_scheduler, super_res_scheduler; for edits also strength, image_weight, resample, mask_blur. \
            SIGTERM or Ctrl-C: stop taking requests, cancel queued ones, finish running ones, exit 0.
            """)

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1: only this machine can connect).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port (0: any free port; the address is printed on stdout).")
    var port = 8080
    @Option(name: .long, help: "Scheme, host and path prefix of returned picture URLs, e.g. https://example.org/unclip (default: the request's Host).")
    var publicURL: String?
    @Option(name: .long, help: "Require 'Authorization: Bearer KEY' on /v1/ routes (default: UNCLIP_API_KEY; none: any key or none is accepted).")
    var apiKey: String?
    @Option(name: .long, help: "Jobs computing at once (default: one per 4 cores, at least 1); the threads are split between them.")
    var maxConcurrent: Int?
    @Option(name: .long, help: "Jobs waiting for a slot (with --queue: jobs queued in PostgreSQL); beyond it, requests get 429 with Retry-After (default 8; 64 with --queue).")
    var maxQueue: Int?
    @Option(name: .long, help: "Hand jobs to `unclip-run worker`s through this PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB; or PGPASSWORD) instead of computing them here; results and picture URLs come from it, so any node answers any URL.")
    var queue: String?
    @Option(name: .long, help: "With --queue: runs of a job (lost worker leases and errors both count) before it fails with 500.")
    var maxAttempts = 3
    @Option(name: .long, help: "With --queue: after SIGTERM, seconds the waiting requests wait for their jobs before they are withdrawn with 503.")
    var drainSeconds = 120.0
    @Option(name: .long, help: "Seconds a picture URL works (and, with --queue, a finished job is kept).")
    var imageLifetime = 3600.0
    @Flag(name: .long, help: "Log the text of prompts the moderation policy refuses (default: only the rule).")
    var logPrompts = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"
    @Option(name: .long, help: "Weights file (default: UNCLIP_WEIGHTS, else the built-in weights).")
    var weights: String?
    @OptionGroup var moderation: ModerationOptions
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Matmul precision of the resident networks: fp32, bf16 (AVX512-BF16) or auto (fp32). Run every worker of one model with the same precision: the bytes of a picture depend on it.")
    var precision: PrecisionChoice = .auto

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        if let maxConcurrent, !(1...64).contains(maxConcurrent) { throw ValidationError("--max-concurrent must be 1…64, got \(maxConcurrent)") }
        if let maxQueue, !(0...10_000).contains(maxQueue) { throw ValidationError("--max-queue must be 0…10000, got \(maxQueue)") }
        if let queue { do { _ = try QueueConfiguration(url: queue) } catch { throw ValidationError("\(error)") } }
        guard drainSeconds >= 0, drainSeconds <= 86400 else { throw ValidationError("--drain-seconds must be 0…86400, got \(drainSeconds)") }
        guard (1...100).contains(maxAttempts) else { throw ValidationError("--max-attempts must be 1…100, got \(maxAttempts)") }
        guard imageLifetime >= 1, imageLifetime <= 7 * 86400 else { throw ValidationError("--image-lifetime must be 1…604800 seconds, got \(imageLifetime)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical, got '\(logLevel)'") }
        if let publicURL, !(publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://")) {
            throw ValidationError("--public-url must start with http:// or https://, got '\(publicURL)'")
        }
        if let key = apiKey ?? ProcessInfo.processInfo.environment["UNCLIP_API_KEY"], key.isEmpty {
            throw ValidationError("the API key (--api-key or UNCLIP_API_KEY) is empty")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = bootstrapLogging(logLevel, label: "unclip.serve")
        let threads = threading.threads ?? Threading.defaultCount()
        var config = ServerConfiguration()
        config.host = host; config.port = port; config.publicURL = publicURL
        config.apiKey = apiKey ?? ProcessInfo.processInfo.environment["UNCLIP_API_KEY"]
        config.maxConcurrent = min(maxConcurrent ?? max(1, threads / 4), threads)
        config.maxQueue = maxQueue ?? (queue == nil ? 8 : 64)
        config.logPrompts = logPrompts
        config.imageLifetime = imageLifetime
        config.policy = try moderation.policy()

        let path = try WeightsLocator.resolve(weights)
        let engine: UnCLIPEngine
        do {
            engine = try UnCLIPEngine(path: path, configuration: .init(threads: threads, maxConcurrentRuns: config.maxConcurrent,
                                                                      precision: try precision.resolve()))
        } catch { throw CLIError("\(error)") }
        let service: ImagesService
        var extra: [any Service] = []
        if let queue {
            // An API node: it checks requests with the engine but computes nothing (no models loaded).
            let metrics = ServerMetrics(sharedQueue: true)
            var queueConfiguration = try QueueConfiguration(url: queue)
            queueConfiguration.maxAttempts = maxAttempts
            queueConfiguration.imageLifetime = imageLifetime
            queueConfiguration.drainSeconds = drainSeconds
            let backend = PostgresBackend(configuration: queueConfiguration, model: engine.modelName,
                                          maxQueue: config.maxQueue, metrics: metrics, logger: logger)
            service = ImagesService(engine: engine, configuration: config, backend: backend, metrics: metrics)
            extra = backend.services
            service.isReady = true
        } else {
            service = ImagesService(engine: engine, configuration: config)
        }
        let (listenHost, listenPort) = (config.host, config.port)
        let app = service.application(logger: logger, extraServices: extra) { channel in
            let port = channel.localAddress?.port ?? listenPort
            let mode = queue.map { " (model \(engine.modelName), jobs in \((try? QueueConfiguration(url: $0).displayName) ?? ""))" }
                ?? " (model \(engine.modelName))"
            print("unclip-run serve: listening on http://\(listenHost):\(port)/v1\(mode)")
            fflush(stdout)
        }
        // The models load beside the listening server; /health says 503 until they are in.
        if queue == nil { Thread {
            let start = Date()
            do {
                let built = try ComputeContext(threads: engine.threadsPerRun).run { try engine.weights.preload() }
                service.isReady = true
                logger.info("model loaded: \(built.joined(separator: ", ")) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
            } catch {
                logger.critical("cannot load the model: \(error)")
                Foundation.exit(1)
            }
        }.start() }
        try runUntilStopped { try await app.runService() }
        logger.info("stopped")
    }
}

/// Logging to stderr at `level` (validated by the command).
func bootstrapLogging(_ level: String, label: String) -> Logger {
    let level = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: label)
}

/// Runs an async service group from a synchronous command until it ends (SIGTERM/SIGINT stop it gracefully).
func runUntilStopped(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = FailureBox()
    Task {
        do { try await body() } catch { failure.error = error }
        done.signal()
    }
    done.wait()
    if let error = failure.error { throw CLIError("server: \(error)") }
}

private final class FailureBox: @unchecked Sendable { var error: (any Error)? }

/// The prompt policy of the commands that take prompts (`serve`, `generate`, `edit`, `outpaint`).
struct ModerationOptions: ParsableArguments {
    @Option(name: .long, help: "Refuse prompts matching a line of FILE: a term or phrase (whole words, any case), or /regex/.")
    var moderationList: String?
    @Option(name: .long, help: "Ask CMD (run by /bin/sh, the prompt on stdin) about each prompt; it prints allow or deny.")
    var moderationCommand: String?

    func policy() throws -> PromptPolicy {
        do { return try PromptPolicy(listFile: moderationList, command: moderationCommand) } catch { throw CLIError("\(error)") }
    }

    /// Applies the policy to a CLI prompt: a refusal is an error naming the rule (exit 1).
    func check(_ prompt: String) throws {
        let policy = try policy()
        guard policy.isActive else { return }
        do { try policy.check(prompt) } catch { throw CLIError("\(error)") }
    }
}
