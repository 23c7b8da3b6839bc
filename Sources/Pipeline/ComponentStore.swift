// Model residency across stages and requests, in the spirit of diffusers' `enable_model_cpu_offload` in reverse:
// components stay built while a memory budget allows, and go back to per-stage loading when it does not.
import Foundation

/// How an ``UnCLIPWeights`` keeps the networks it builds.
public enum Residency: Sendable, Equatable {
    /// Each component is built when its stage starts and released after it: the lowest peak memory, and every
    /// run loads (and for F16/BF16 files, widens) again. What a one-shot command wants.
    case staged
    /// Components stay built across stages and requests while their float32 weights fit in `budgetBytes`
    /// (first built, first kept); one that does not fit is staged. What a server wants.
    case resident(budgetBytes: Int)

    /// Resident with half of the machine's physical memory as the budget.
    public static var residentDefault: Residency {
        .resident(budgetBytes: Int(min(ProcessInfo.processInfo.physicalMemory / 2, UInt64(Int.max))))
    }
}

/// Built components kept for reuse; thread-safe. Two runs asking for the same component at once build it once.
final class ComponentStore: @unchecked Sendable {
    private let lock = NSLock()
    private var models: [String: Any] = [:]
    private var building: [String: NSLock] = [:]
    private(set) var heldBytes = 0

    /// The kept component, or `make()`'s result — kept when `bytes` still fit in `budget`.
    func component<M>(_ name: String, bytes: Int, budget: Int, make: () throws -> M) throws -> M {
        if let m = kept(name) as? M { return m }
        lock.lock()
        let gate = building[name] ?? NSLock()
        building[name] = gate
        lock.unlock()
        gate.lock(); defer { gate.unlock() }
        if let m = kept(name) as? M { return m }           // built by another run while this one waited
        let m = try make()
        lock.lock()
        if heldBytes + bytes <= budget { models[name] = m; heldBytes += bytes }
        lock.unlock()
        return m
    }

    /// Whether `name` is kept built.
    func isKept(_ name: String) -> Bool { kept(name) != nil }

    /// Names of the kept components.
    var keptNames: [String] { lock.lock(); defer { lock.unlock() }; return models.keys.sorted() }

    private func kept(_ name: String) -> Any? { lock.lock(); defer { lock.unlock() }; return models[name] }
}
