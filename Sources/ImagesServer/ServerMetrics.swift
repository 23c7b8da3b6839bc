// Operators' metrics in the Prometheus text format (swift-prometheus 2: `PrometheusCollectorRegistry`, as its README
// sets one up), one registry per server or worker — no process-wide metrics system — served at `GET /metrics`.
import Foundation
import Pipeline
import Prometheus

/// The metrics of one API node or worker.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Jobs waiting for a slot (in-process queue) or in PostgreSQL's queue (refreshed at each scrape).
    public let queueDepth: Gauge
    /// Jobs computing now.
    public let running: Gauge
    /// Images delivered.
    public let images: Counter
    /// Leases a worker lost (another worker took the job after its lease expired, or the queue was unreachable).
    public let leasesLost: Counter
    /// Seconds from submission to the start of compute, and of compute.
    public let waitSeconds: DurationHistogram
    public let jobSeconds: DurationHistogram
    private let finished: [String: Counter]
    private let jobsByState: [String: Gauge]
    private let stageSeconds: [String: DurationHistogram]

    /// Ends of jobs, by how they ended.
    public enum Outcome: String, CaseIterable, Sendable {
        case completed, failed, cancelled, rejected
    }

    /// `sharedQueue`: also the `unclip_queue_jobs{state}` gauges of a PostgreSQL queue.
    public init(sharedQueue: Bool = false) {
        let r = registry
        queueDepth = r.makeGauge(descriptor: Self.name("unclip_queue_depth", "Jobs waiting to be computed."))
        running = r.makeGauge(descriptor: Self.name("unclip_jobs_running", "Jobs computing now."))
        images = r.makeCounter(descriptor: Self.name("unclip_images_total", "Images produced."))
        leasesLost = r.makeCounter(descriptor: Self.name("unclip_worker_leases_lost_total",
                                                         "Jobs whose lease a worker lost (expired, taken over, or the queue unreachable)."))
        let seconds: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600].map { .milliseconds(Int($0 * 1000)) }
        waitSeconds = r.makeDurationHistogram(descriptor: Self.name("unclip_job_wait_seconds",
                                                                    "Seconds from submission until a job starts computing."), buckets: seconds)
        jobSeconds = r.makeDurationHistogram(descriptor: Self.name("unclip_job_duration_seconds", "Seconds a job computes."), buckets: seconds)
        var finished: [String: Counter] = [:]
        for o in Outcome.allCases {
            finished[o.rawValue] = r.makeCounter(descriptor: Self.name("unclip_jobs_total",
                                                                       "Jobs ended, by state (rejected: refused before queueing, e.g. 429)."),
                                                 labels: [("state", o.rawValue)])
        }
        self.finished = finished
        var byState: [String: Gauge] = [:]
        for state in sharedQueue ? ["queued", "running", "done", "failed", "cancelled"] : [] {
            byState[state] = r.makeGauge(descriptor: Self.name("unclip_queue_jobs", "Jobs in the shared queue by state (read at each scrape)."),
                                         labels: [("state", state)])
        }
        jobsByState = byState
        var stages: [String: DurationHistogram] = [:]
        for stage in ["text_encoder"] + Stage.allCases.map(\.key) {
            stages[stage] = r.makeDurationHistogram(descriptor: Self.name("unclip_stage_duration_seconds",
                                                                          "Seconds per pipeline stage (model loading included)."),
                                                    labels: [("stage", stage)], buckets: seconds)
        }
        stageSeconds = stages
    }

    /// Counts a job's end.
    public func ended(_ outcome: Outcome) { finished[outcome.rawValue]?.increment() }

    /// Sets the shared queue's jobs by state, and the queue depth and running gauges from them.
    public func setJobs(_ counts: [String: Int]) {
        for (state, gauge) in jobsByState { gauge.set(Double(counts[state] ?? 0)) }
        queueDepth.set(Double(counts["queued"] ?? 0))
        running.set(Double(counts["running"] ?? 0))
    }

    /// Hooks that time a run's stages into `unclip_stage_duration_seconds` (chained before `hooks.phase`).
    public func timingStages(_ hooks: PipelineHooks) -> PipelineHooks {
        var hooks = hooks
        let previous = hooks.phase
        let clock = ContinuousClock()
        var started: [String: ContinuousClock.Instant] = [:]
        hooks.phase = { [stageSeconds] phase, begins in
            previous?(phase, begins)
            let name: String
            switch phase {
            case .textEncoding: name = "text_encoder"
            case .stage(let s): name = s.key
            case .loading: return
            }
            if begins { started[name] = clock.now } else if let t0 = started.removeValue(forKey: name) {
                stageSeconds[name]?.record(clock.now - t0)
            }
        }
        return hooks
    }

    /// A metric's name and help text.
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: name, helpText: help) }

    /// The Prometheus text exposition.
    public func exposition() -> String { registry.emitToString() }
}
