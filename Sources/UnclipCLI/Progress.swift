// Progress on stderr (a redrawn bar on a terminal, one plain line per step otherwise, like tqdm vs log-friendly
// output) and SIGINT → a cancellation the pipeline sees between steps.
import Dispatch
import Foundation
import Pipeline

/// Writes pipeline progress to stderr.
final class ProgressReporter {
    let quiet: Bool
    let isTerminal: Bool
    private var barOpen = false

    init(quiet: Bool) {
        self.quiet = quiet
        isTerminal = isatty(STDERR_FILENO) == 1
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    /// One step done.
    func report(_ p: StepProgress) {
        guard !quiet else { return }
        let rate = p.secondsPerStep >= 1 || p.secondsPerStep == 0
            ? String(format: "%.2f s/it", p.secondsPerStep) : String(format: "%.2f it/s", 1 / p.secondsPerStep)
        let head = "[\(p.stage.rawValue)] \(p.step)/\(p.stepCount)"
        let tail = "\(rate)  ETA \(Self.clock(p.remaining))"
        if isTerminal {
            let width = 24, filled = p.step * width / max(p.stepCount, 1)
            let bar = String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled)
            write("\r\(head) |\(bar)| \(String(format: "%3d%%", p.step * 100 / max(p.stepCount, 1)))  \(tail)\u{1B}[K")
            barOpen = true
            if p.step == p.stepCount { write("\n"); barOpen = false }
        } else {
            write("\(head)  \(tail)\n")
        }
    }

    /// A message line (after closing an open bar).
    func note(_ text: String) {
        guard !quiet else { return }
        if barOpen { write("\n"); barOpen = false }
        write(text + "\n")
    }

    /// Always printed (errors, warnings), after closing an open bar.
    func warn(_ text: String) {
        if barOpen { write("\n"); barOpen = false }
        write(text + "\n")
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Ctrl-C: the first SIGINT asks the pipeline to stop at the next step boundary; a second one exits at once.
/// Output files are only ever written whole (temporary name, then rename), so neither leaves a partial file.
final class InterruptFlag: @unchecked Sendable {
    static let shared = InterruptFlag()
    private let lock = NSLock()
    private var requested = false
    private var source: DispatchSourceSignal?

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    func install() {
        guard source == nil else { return }
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
        s.setEventHandler { [unowned self] in
            self.lock.lock()
            let second = self.requested
            self.requested = true
            self.lock.unlock()
            if second { _exit(130) }
            FileHandle.standardError.write(Data("\ninterrupted: stopping after the current step (Ctrl-C again to quit now)\n".utf8))
        }
        s.resume()
        source = s
    }
}
