// Tests of tensor storage recycling (TensorPool): reuse inside a loop scope, nothing kept outside it.
import Foundation
@testable import TensorCore
import XCTest

final class TensorPoolTests: XCTestCase {
    func testBuffersAreReusedInsideAScopeAndReleasedAfter() {
        let context = ComputeContext(threads: 1), pool = context.pool, n = TensorPool.minimumCount * 2
        context.run {
        let before = pool.statistics
        var firstAddress: UnsafeMutablePointer<Float>?, secondAddress: UnsafeMutablePointer<Float>?
        pool.recycling {
            do { let a = Tensor(uninitialized: [n]); firstAddress = a.data; a.data[0] = 42 }
            XCTAssertEqual(pool.statistics.bytesHeld - before.bytesHeld, n * 4, "a freed buffer is kept")
            let b = Tensor(uninitialized: [n])
            secondAddress = b.data
            XCTAssertEqual(pool.statistics.hits, before.hits + 1)
            let z = Tensor(zeros: [n])                 // a second live tensor of that size: a fresh, zeroed buffer
            XCTAssertNotEqual(z.data, b.data)
            XCTAssertEqual(z.data[0], 0)
        }
        XCTAssertEqual(firstAddress, secondAddress, "the same-size tensor got the recycled buffer")
        XCTAssertEqual(pool.statistics.bytesHeld, 0, "the outermost scope empties the pool")
        do { _ = Tensor(uninitialized: [n]) }
        XCTAssertEqual(pool.statistics.bytesHeld, 0, "nothing is kept outside a scope")
        }
    }

    func testSmallBuffersAndTheLimitBypassThePool() {
        let pool = TensorPool(limitBytes: 3 * TensorPool.minimumCount * 4)
        pool.recycling {
            func buffer(_ n: Int) -> UnsafeMutablePointer<Float> { malloc(n * 4)!.bindMemory(to: Float.self, capacity: n) }
            let small = buffer(16)
            pool.give(small, count: 16)
            XCTAssertEqual(pool.statistics.bytesHeld, 0)
            for _ in 0..<4 {
                let p = buffer(TensorPool.minimumCount)
                pool.give(p, count: TensorPool.minimumCount)
            }
            XCTAssertEqual(pool.statistics.bytesHeld, 3 * TensorPool.minimumCount * 4, "the fourth buffer exceeds the limit")
            pool.recycling {                                       // nested: does not drain
                let p = pool.take(TensorPool.minimumCount)
                XCTAssertNotNil(p)
                free(p)
            }
            XCTAssertEqual(pool.statistics.bytesHeld, 2 * TensorPool.minimumCount * 4)
            XCTAssertNil(pool.take(TensorPool.minimumCount + 1), "sizes must match exactly")
        }
        XCTAssertEqual(pool.statistics.bytesHeld, 0)
        XCTAssertNil(pool.take(TensorPool.minimumCount), "no reuse outside a scope")
    }
}
