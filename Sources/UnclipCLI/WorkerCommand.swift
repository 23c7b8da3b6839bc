// `unclip-run worker`: computes the images API's jobs from a shared PostgreSQL queue (issue #19), beside any number of
// API nodes (`unclip-run serve --queue`) and other workers. Options and start-up only; the queue is PostgresQueue's.
import ArgumentParser
import Foundation
import Hummingbird
import ImagesServer
import Logging
import Pipeline
import PostgresQueue
import ServiceLifecycle
import TensorCore

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Compute images API jobs from a PostgreSQL queue shared with `unclip-run serve --queue` nodes.",
        discussion: """
            Claims the oldest waiting job (FOR UPDATE SKIP LOCKED), renews its lease while computing, stores the \
            pictures in PostgreSQL. A worker that dies loses its lease and another reruns the job from its seed (the same \
            pixels). Serves /health and /metrics (Prometheus) on --host:--port. SIGTERM: finish the job in hand, exit 0.
            """)

    @Option(name: .long, help: "The queue: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or PGPASSWORD).")
    var queue: String
    @Option(name: .long, help: "Weights file (default: UNCLIP_WEIGHTS, else the built-in weights); the API nodes must use the same model.")
    var weights: String?
    @Option(name: .long, help: "Jobs computed at once (default: one per 4 cores, at least 1); the threads are split between them.")
    var maxConcurrent: Int?
    @Option(name: .long, help: "Address of /health and /metrics (default 127.0.0.1).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port of /health and /metrics (0: any free port; printed on stdout).")
    var port = 8090
    @Option(name: .long, help: "This worker's name in the queue (default: HOSTNAME-PID).")
    var name: String?
    @Option(name: .long, help: "Seconds a claimed job stays this worker's without a renewal (renewed every third).")
    var leaseSeconds = 30.0
    @Option(name: .long, help: "Seconds the pictures this worker stores stay available at their URLs.")
    var imageLifetime = 3600.0
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Matmul precision of the resident networks: fp32, bf16 (AVX512-BF16) or auto (fp32). Run every worker of one model with the same precision: the bytes of a picture depend on it.")
    var precision: PrecisionChoice = .auto

    func validate() throws {
        do { _ = try QueueConfiguration(url: queue) } catch { throw ValidationError("\(error)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        if let maxConcurrent, !(1...64).contains(maxConcurrent) { throw ValidationError("--max-concurrent must be 1…64, got \(maxConcurrent)") }
        guard leaseSeconds >= 1, leaseSeconds <= 3600 else { throw ValidationError("--lease-seconds must be 1…3600, got \(leaseSeconds)") }
        guard imageLifetime >= 1, imageLifetime <= 7 * 86400 else { throw ValidationError("--image-lifetime must be 1…604800 seconds, got \(imageLifetime)") }
        if let name, name.isEmpty || name.count > 200 { throw ValidationError("--name must be 1…200 characters") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical, got '\(logLevel)'") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = bootstrapLogging(logLevel, label: "unclip.worker")
        let threads = threading.threads ?? Threading.defaultCount()
        let slots = min(maxConcurrent ?? max(1, threads / 4), threads)
        var configuration = try QueueConfiguration(url: queue)
        configuration.leaseSeconds = leaseSeconds
        configuration.imageLifetime = imageLifetime
        let path = try WeightsLocator.resolve(weights)
        let engine: UnCLIPEngine
        do {
            engine = try UnCLIPEngine(path: path, configuration: .init(threads: threads, maxConcurrentRuns: slots,
                                                                      precision: try precision.resolve()))
            let start = Date()
            let built = try ComputeContext(threads: engine.threadsPerRun).run { try engine.weights.preload() }
            logger.info("model loaded: \(built.joined(separator: ", ")) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        } catch { throw CLIError("\(error)") }
        let workerName = name ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let worker = Worker(engine: engine, configuration: configuration, name: workerName, maxConcurrent: slots, logger: logger)
        let (listenHost, listenPort, queueName) = (host, port, configuration.displayName)
        let app = Application(router: worker.router(), configuration: .init(address: .hostname(host, port: port), serverName: "unclip-worker"),
                              services: worker.services, onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? listenPort
                                  print("unclip-run worker: \(workerName) (\(slots) slot\(slots == 1 ? "" : "s"), model \(engine.modelName)) "
                                      + "taking jobs from \(queueName); health and metrics on http://\(listenHost):\(port)")
                                  fflush(stdout)
                              }, logger: logger)
        try runUntilStopped { try await app.runService() }
        logger.info("stopped")
    }
}
