// Regression test: ops call Scratch.buffer(thread:slot:count:) from inside their parallel regions, one thread
// per slot row, so growing the arena must be safe when several threads grow their rows at once.
import Dispatch
import Foundation
@testable import TensorCore
import XCTest

final class ScratchTests: XCTestCase {
    func testConcurrentGrowthGivesEachThreadAWholeBuffer() {
        for round in 0..<200 {
            let arena = Scratch()
            arena.withLock { s in
                DispatchQueue.concurrentPerform(iterations: 8) { p in
                    for k in 1...6 {
                        let n = (round % 7 + 1) * 4096 * k + p
                        let b = s.buffer(thread: p, slot: k % 3, count: n)
                        b[0] = Float(p); b[n - 1] = Float(p)          // touch both ends of the whole buffer
                        XCTAssertEqual(b[0], Float(p))
                    }
                }
            }
            arena.release()
        }
    }
}
