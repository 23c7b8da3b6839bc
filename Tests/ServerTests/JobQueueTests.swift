// The job queue's admission (429 with Retry-After when full), FIFO order, a waiting job dropped when its client goes
// away, and shutdown (waiting jobs and new ones get 503); the picture store's expiry and byte budget.
import Foundation
import ImagesServer
import Pipeline
import XCTest

final class JobQueueTests: XCTestCase {
    /// A gate a job thread blocks on until the test opens it.
    final class Gate: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        func open(_ n: Int = 1) { for _ in 0..<n { semaphore.signal() } }
        func pass() { semaphore.wait() }
    }

    func waitUntil(_ condition: () -> Bool, _ what: String) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertTrue(condition(), what)
    }

    func testFullQueueAnswers429WithRetryAfterAndKeepsFIFO() async throws {
        let queue = JobQueue(maxConcurrent: 1, maxQueue: 2)
        let gate = Gate()
        let order = OrderBox()
        let first = Task { try await queue.run(control: RunControl()) { gate.pass(); order.add(0) } }
        try await waitUntil({ queue.load.running == 1 }, "first job running")
        let second = Task { try await queue.run(control: RunControl()) { order.add(1) } }
        try await waitUntil({ queue.load.waiting == 1 }, "second waiting")
        let third = Task { try await queue.run(control: RunControl()) { order.add(2) } }
        try await waitUntil({ queue.load.waiting == 2 }, "third waiting")
        do {
            try await queue.run(control: RunControl()) { XCTFail("a job past the queue's bound ran") }
            XCTFail("no 429")
        } catch let e as APIError {
            XCTAssertEqual(e.status, .tooManyRequests)
            XCTAssertEqual(e.code, "rate_limit_exceeded")
            let retry = try XCTUnwrap(e.headers[.retryAfter].flatMap(Int.init))
            XCTAssertTrue((1...120).contains(retry), "Retry-After \(retry)")
        }
        gate.open()
        _ = try await (first.value, second.value, third.value)
        XCTAssertEqual(order.values, [0, 1, 2])
        XCTAssertEqual(queue.load.running, 0)
    }

    func testCancelledWaitingJobLeavesTheQueueAndNeverRuns() async throws {
        let queue = JobQueue(maxConcurrent: 1, maxQueue: 1)
        let gate = Gate()
        let first = Task { try await queue.run(control: RunControl()) { gate.pass() } }
        try await waitUntil({ queue.load.running == 1 }, "first job running")
        let control = RunControl()
        let waiting = Task { try await queue.run(control: control) { XCTFail("a cancelled job ran") } }
        try await waitUntil({ queue.load.waiting == 1 }, "second waiting")
        control.cancel()
        do { try await waiting.value; XCTFail("no error") } catch PipelineError.cancelled {}
        XCTAssertEqual(queue.load.waiting, 0, "its place is free")
        let next = Task { try await queue.run(control: RunControl()) { 7 } }   // fits in the queue again
        gate.open()
        try await first.value
        let value = try await next.value
        XCTAssertEqual(value, 7)
    }

    func testShutdownDropsWaitingJobsAndRefusesNewOnes() async throws {
        let queue = JobQueue(maxConcurrent: 1, maxQueue: 4)
        let gate = Gate()
        let running = Task { try await queue.run(control: RunControl()) { gate.pass(); return 1 } }
        try await waitUntil({ queue.load.running == 1 }, "job running")
        let waiting = Task { try await queue.run(control: RunControl()) { 2 } }
        try await waitUntil({ queue.load.waiting == 1 }, "job waiting")
        queue.shutDown()
        do { _ = try await waiting.value; XCTFail("waiting job ran after shutdown") } catch let e as APIError {
            XCTAssertEqual(e.status, .serviceUnavailable)
        }
        do { _ = try await queue.run(control: RunControl()) { 3 }; XCTFail("new job ran after shutdown") } catch let e as APIError {
            XCTAssertEqual(e.status, .serviceUnavailable)
        }
        gate.open()
        let finished = try await running.value
        XCTAssertEqual(finished, 1, "the running job finishes")
    }

    func testImageStoreExpiresAfterItsLifetimeAndKeepsItsBudget() {
        let store = ImageStore(lifetime: 3600, maxBytes: 10)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let a = store.put(Data([1, 2, 3, 4]), now: t0)
        XCTAssertEqual(store.get(a, now: t0.addingTimeInterval(3599)), Data([1, 2, 3, 4]))
        XCTAssertNil(store.get(a, now: t0.addingTimeInterval(3600)), "gone after 60 minutes")
        let b = store.put(Data(count: 6), now: t0), c = store.put(Data(count: 6), now: t0)
        XCTAssertNil(store.get(b, now: t0), "the oldest goes when the budget is full")
        XCTAssertNotNil(store.get(c, now: t0))
        XCTAssertNotEqual(b, c)
        XCTAssertEqual(store.usage.bytes, 6)
    }
}

final class OrderBox: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    func add(_ v: Int) { lock.lock(); list.append(v); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return list }
}
