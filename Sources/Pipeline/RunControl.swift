// Per-request cancellation and progress, usable from another thread (a server cancels a job whose client went away),
// as diffusers' `callback_on_step_end` + `pipe._interrupt` do for one call.
import Foundation

/// A handle on one run: any thread may cancel it or read how far it got.
///
/// The run polls ``isCancelled`` before each stage and between steps, so a cancel takes effect within one
/// denoising step; the run then throws ``PipelineError/cancelled``.
///
/// ```swift
/// let control = RunControl()
/// DispatchQueue.global().asyncAfter(deadline: .now() + 5) { control.cancel() }
/// let result = try engine.generate(request, control: control)
/// ```
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var last: StepProgress?
    private var onCancel: [@Sendable () -> Void] = []

    public init() {}

    /// Asks the run to stop at its next check, and calls the ``whenCancelled(_:)`` callbacks (once).
    public func cancel() {
        lock.lock()
        let callbacks = cancelled ? [] : onCancel
        cancelled = true; onCancel = []
        lock.unlock()
        for f in callbacks { f() }
    }

    /// Calls `f` when the run is cancelled (at once, on this thread, if it already is): e.g. a job queue drops a
    /// waiting job whose client went away.
    public func whenCancelled(_ f: @escaping @Sendable () -> Void) {
        lock.lock()
        if cancelled { lock.unlock(); f(); return }
        onCancel.append(f)
        lock.unlock()
    }

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    /// The last step the run reported (nil before its first step).
    public var progress: StepProgress? { lock.lock(); defer { lock.unlock() }; return last }

    func record(_ p: StepProgress) { lock.lock(); last = p; lock.unlock() }

    /// `hooks` with this control's cancellation and progress added to the ones they already have.
    public func attach(to hooks: PipelineHooks) -> PipelineHooks {
        var h = hooks
        let earlierCancel = hooks.isCancelled, earlierProgress = hooks.progress
        h.isCancelled = { [self] in isCancelled || earlierCancel?() == true }
        h.progress = { [self] p in record(p); earlierProgress?(p) }
        return h
    }
}
