// The shared queue's parts that need no database (issue #19): `--queue` URLs (libpq's URI form), the notification
// payloads, and the wake-ups of waiting requests. The queue itself is tested against a real PostgreSQL by
// scripts/tests/test_scaleout.py.
import Foundation
@testable import PostgresQueue
import XCTest

final class QueueConfigurationTests: XCTestCase {
    func testURLsParseAndBadOnesAreNamed() throws {
        let c = try QueueConfiguration(url: "postgres://unclip:secret@db.example:6543/images", environment: [:])
        XCTAssertEqual([c.host, c.user, c.database], ["db.example", "unclip", "images"])
        XCTAssertEqual(c.port, 6543)
        XCTAssertEqual(c.password, "secret")
        XCTAssertEqual(c.displayName, "postgres://unclip@db.example:6543/images", "no password in logs")
        let d = try QueueConfiguration(url: "postgresql://u@127.0.0.1/q?sslmode=disable", environment: ["PGPASSWORD": "pw"])
        XCTAssertEqual(d.port, 5432)
        XCTAssertEqual(d.password, "pw")
        for (url, message) in [("mysql://u@h/db", "is not a postgres://"), ("postgres://h/db", "names no user"),
                               ("postgres://u@h", "names no database"), ("postgres://u@h/a/b", "names no database"),
                               ("postgres://u@/db", "names no host"), ("postgres://u@h:0/db", "out of range"),
                               ("postgres://u@h/db?sslmode=require", "not supported"), ("not a url", "is not a postgres://")] {
            XCTAssertThrowsError(try QueueConfiguration(url: url, environment: [:]), url) { error in
                XCTAssertTrue("\(error)".contains(message), "\(url): \(error)")
            }
        }
    }

    func testNotificationPayloads() {
        let id = UUID()
        XCTAssertEqual(QueueEvent(payload: "done \(id.uuidString)"), QueueEvent(payload: "done \(id.uuidString.lowercased())"))
        XCTAssertEqual(QueueEvent(payload: "cancel \(id.uuidString)")?.kind, .cancel)
        XCTAssertEqual(QueueEvent(payload: "queued \(id.uuidString)")?.job, id)
        for bad in ["", "done", "done x", "finished \(id.uuidString)", "done \(id.uuidString) extra"] {
            XCTAssertNil(QueueEvent(payload: bad), bad)
        }
    }

    func testWakeupsComeByNotificationOrPollAndNoneIsLost() async {
        let wakeups = Wakeups()
        let id = UUID(), other = UUID()
        wakeups.watch(id)
        wakeups.notify(id)                                   // before anyone waits: the next wait returns at once
        var t = ContinuousClock.now
        await wakeups.wait(id, seconds: 5)
        XCTAssertLessThan(ContinuousClock.now - t, .seconds(2))
        t = .now
        await wakeups.wait(id, seconds: 0.05)                // nothing came: the poll interval
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - t, .milliseconds(50))
        t = .now
        let woken = Flag()
        let waiter = Task { await wakeups.wait(id, seconds: 5); woken.set() }
        try? await Task.sleep(for: .milliseconds(50))
        wakeups.notify(other)                                // another job's notification does not wake it
        try? await Task.sleep(for: .milliseconds(200))
        XCTAssertFalse(woken.value, "woken by another job's notification")
        wakeups.notify(id)
        await waiter.value
        XCTAssertTrue(woken.value)
        XCTAssertLessThan(ContinuousClock.now - t, .seconds(2))
        wakeups.unwatch(id)
    }
}

/// A flag set by one task, read by another.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false
    func set() { lock.withLock { isSet = true } }
    var value: Bool { lock.withLock { isSet } }
}
