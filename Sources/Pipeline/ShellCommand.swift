// An outside command asked a question (the moderation hook): `/bin/sh -c CMD` started with posix_spawn in a process
// group of its own (killed whole at the deadline), its input and output through socket pairs (a command that exits without reading cannot raise SIGPIPE here: send uses MSG_NOSIGNAL), its
// output read up to a cap, all within a deadline in one poll(2) loop on the calling thread, then reaped. Written on
// POSIX calls rather than Foundation's Process, which on Linux leaves a reference cycle behind every run (found by
// LeakSanitizer, scripts/asan.sh) — a server asking about each prompt would grow by it.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum ShellCommand {
    /// How a run ended.
    enum Outcome: Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }

    /// Runs `command` with `input` on its standard input; returns how it ended and up to `maxOutput` bytes of its
    /// standard output (its standard error goes to /dev/null). Killed (SIGKILL) at `timeout` seconds.
    static func run(_ command: String, input: [UInt8], timeout: Double, maxOutput: Int = 64 << 10) throws -> (Outcome, [UInt8]) {
        var io: [Int32] = [-1, -1], out: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &io) == 0 else {
            throw ModerationFailure(reason: "cannot create a socket pair (errno \(errno))")
        }
        defer { for fd in io where fd >= 0 { close(fd) } }
        // The output through a second socket pair: created close-on-exec at once (no window in which a command started by
        // another thread could inherit it and hold back our end-of-file).
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &out) == 0 else {
            throw ModerationFailure(reason: "cannot create a socket pair (errno \(errno))")
        }
        defer { for fd in out where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, io[1], 0)              // dup2 clears close-on-exec on 0 and 1
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for p in argv { free(p) } }
        // Its own process group, so a timeout kills what the shell started too.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw ModerationFailure(reason: "cannot start '\(command)' (errno \(spawned))") }
        close(io[1]); io[1] = -1
        close(out[1]); out[1] = -1

        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        func remainingMilliseconds() -> Int32 {
            let now = DispatchTime.now().uptimeNanoseconds
            return now >= deadline ? 0 : Int32(min(100, (deadline - now) / 1_000_000 + 1))
        }
        var sent = 0, writing = true, reading = true
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while reading && remainingMilliseconds() > 0 {
            if writing && sent == input.count { shutdown(io[0], Int32(SHUT_WR)); writing = false }
            var fds = [pollfd(fd: out[0], events: Int16(POLLIN), revents: 0)]
            if writing { fds.append(pollfd(fd: io[0], events: Int16(POLLOUT), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), remainingMilliseconds()) >= 0 || errno == EINTR else { break }
            if writing, fds.count > 1, fds[1].revents != 0 {
                let n = input[sent...].withUnsafeBytes { send(io[0], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                if n > 0 { sent += n } else if n < 0 && errno != EAGAIN && errno != EINTR { writing = false }   // EPIPE: it does not read
            }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(out[0], $0.baseAddress, $0.count) }
                if n > 0 { output += buffer[0..<min(n, max(0, maxOutput - output.count))] } else if n == 0 || errno != EINTR { reading = false }
            }
        }
        // Reap it: at once if it is done, else wait out the deadline, then kill it.
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return (.exited(-1), output) }
            if remainingMilliseconds() == 0 {
                kill(-pid, SIGKILL)                                           // the shell's whole process group
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return (.timedOut, output)
            }
            usleep(2000)
        }
        let signal = status & 0x7f
        return (signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal), output)
    }
}
