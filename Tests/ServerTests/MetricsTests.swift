// `GET /metrics` of the in-process server (issue #19): Prometheus text with jobs by state, images, queue depth, job,
// wait and per-stage latency histograms, counted from real requests (completed, rejected with 429).
import Foundation
import Hummingbird
import HummingbirdTesting
import ImagesServer
import Pipeline
import XCTest

final class MetricsTests: XCTestCase {
    typealias F = ServerFixtures

    /// The value of a sample line `name{labels} value` (labels as written, "" for none).
    func sample(_ text: String, _ name: String, _ labels: String = "") -> Double? {
        let prefix = labels.isEmpty ? "\(name) " : "\(name){\(labels)} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    func testMetricsCountJobsImagesAndStages() async throws {
        let service = try F.service()
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body["prompt"] = "a red circle"; body["n"] = 2; body["size"] = "256x256"; body["response_format"] = "b64_json"
            let ok = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body))
            XCTAssertEqual(ok.status, .ok)
            let bad = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(["n": 1]))
            XCTAssertEqual(bad.status, .badRequest)
            let response = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
            let text = String(buffer: response.body)
            XCTAssertEqual(self.sample(text, "unclip_images_total"), 2)
            XCTAssertEqual(self.sample(text, "unclip_jobs_total", "state=\"completed\""), 1)
            XCTAssertEqual(self.sample(text, "unclip_jobs_total", "state=\"failed\""), 0)
            XCTAssertEqual(self.sample(text, "unclip_queue_depth"), 0)
            XCTAssertEqual(self.sample(text, "unclip_jobs_running"), 0)
            XCTAssertEqual(self.sample(text, "unclip_job_duration_seconds_count"), 1)
            XCTAssertEqual(self.sample(text, "unclip_job_wait_seconds_count"), 1)
            XCTAssertEqual(self.sample(text, "unclip_worker_leases_lost_total"), 0)
            for stage in ["text_encoder", "prior", "decoder", "super_res"] {
                XCTAssertEqual(self.sample(text, "unclip_stage_duration_seconds_count", "stage=\"\(stage)\""), 1, stage)
                XCTAssertGreaterThan(self.sample(text, "unclip_stage_duration_seconds_sum", "stage=\"\(stage)\"") ?? 0, 0, stage)
            }
            XCTAssertFalse(text.contains("unclip_queue_jobs"), "the shared queue's gauges appear only with --queue")
        }
    }

    func testRefusedJobsCountAsRejected() async throws {
        let metrics = ServerMetrics()
        let engine = try F.service().engine
        var config = ServerConfiguration()
        config.maxConcurrent = 1; config.maxQueue = 0
        let backend = LocalBackend(engine: engine, queue: JobQueue(maxConcurrent: 1, maxQueue: 0), store: ImageStore(), metrics: metrics)
        let service = ImagesService(engine: engine, configuration: config, backend: backend, metrics: metrics)
        let gate = DispatchSemaphore(value: 0)
        let holder = Task { try await backend.queue.run(control: RunControl()) { gate.wait() } }
        while backend.queue.load.running == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body["prompt"] = "a red circle"; body["size"] = "256x256"
            let busy = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body))
            XCTAssertEqual(busy.status, .tooManyRequests)
        }
        gate.signal()
        try await holder.value
        XCTAssertTrue(metrics.exposition().contains("unclip_jobs_total{state=\"rejected\"} 1"), metrics.exposition())
    }
}
