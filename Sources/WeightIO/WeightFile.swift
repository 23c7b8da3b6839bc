// The unclip weights file: the safetensors layout (huggingface/safetensors), memory-mapped and strictly
// validated before any tensor is touched. The format is specified in weights/FORMAT.md.
import Foundation
import TensorCore

/// Storage type of a tensor in the file.
public enum DType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", u8 = "U8"
    /// Bytes per element.
    public var size: Int {
        switch self { case .f32, .i32: 4; case .f16, .bf16: 2; case .i64: 8; case .u8: 1 }
    }
    /// Whether a model may load it as Float32.
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// One tensor's header entry.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data buffer.
    public let begin: Int, end: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A weight-file problem, each naming what is wrong.
public enum WeightFileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case truncated(path: String, size: Int)
    case headerTooLarge(path: String, length: UInt64, limit: Int)
    case headerPastEnd(path: String, length: UInt64, fileSize: Int)
    case badHeader(path: String, reason: String)
    case badEntry(path: String, tensor: String, reason: String)
    case overlap(path: String, first: String, second: String)
    case uncovered(path: String, reason: String)
    case unsupportedVersion(path: String, version: String)
    case missingTensor(key: String)
    case wrongShape(key: String, expected: [Int], actual: [Int])
    case wrongDType(key: String, dtype: String)
    case unusedTensors(prefix: String, keys: [String])
    case missingMetadata(key: String)

    public var description: String {
        switch self {
        case let .cannotOpen(p, r): return "cannot open weights file \(p): \(r)"
        case let .truncated(p, s): return "weights file \(p) is truncated: \(s) bytes is too short for a header"
        case let .headerTooLarge(p, l, lim): return "weights file \(p): header length \(l) exceeds the \(lim)-byte limit (corrupt file?)"
        case let .headerPastEnd(p, l, s): return "weights file \(p): header length \(l) runs past the end of the \(s)-byte file (truncated?)"
        case let .badHeader(p, r): return "weights file \(p): malformed header: \(r)"
        case let .badEntry(p, t, r): return "weights file \(p): tensor '\(t)': \(r)"
        case let .overlap(p, a, b): return "weights file \(p): tensors '\(a)' and '\(b)' overlap"
        case let .uncovered(p, r): return "weights file \(p): \(r)"
        case let .unsupportedVersion(p, v): return "weights file \(p): unsupported unclip format_version '\(v)' (this build reads version 1)"
        case let .missingTensor(k): return "missing tensor '\(k)' in weights file"
        case let .wrongShape(k, e, a): return "tensor '\(k)' has shape \(a), expected \(e)"
        case let .wrongDType(k, d): return "tensor '\(k)' has dtype \(d), which is not a float type"
        case let .unusedTensors(p, k): return "\(k.count) tensor(s) under '\(p)' were not used by the model: \(k.prefix(5).joined(separator: ", "))\(k.count > 5 ? ", …" : "")"
        case let .missingMetadata(k): return "weights file has no metadata key '\(k)'"
        }
    }
}

/// A memory-mapped, validated weights file.
public final class WeightFile: @unchecked Sendable {
    /// Header lengths above this are rejected before anything is allocated.
    public static let maxHeaderBytes = 100 << 20

    public let path: String
    public let fileSize: Int
    /// Tensor entries by name.
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` string map.
    public let metadata: [String: String]
    private let base: UnsafeMutableRawPointer
    private let dataStart: Int

    /// Opens and validates `path`; throws `WeightFileError` naming the first problem found.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw WeightFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WeightFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw WeightFileError.cannotOpen(path: path, reason: "not a regular file") }
        fileSize = Int(st.st_size)
        guard fileSize >= 8 else { throw WeightFileError.truncated(path: path, size: fileSize) }
        // Read-only: F32 weights are views of this mapping, and a stray write through one faults at once instead of
        // silently changing the weights every later request uses (MAP_PRIVATE: nothing can ever reach the file).
        guard let m = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw WeightFileError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = m
        do {
            let parsed = try WeightFile.parseHeader(base: UnsafeRawPointer(m), fileSize: fileSize, path: path)
            tensors = parsed.tensors; metadata = parsed.metadata; dataStart = parsed.dataStart
            if let v = metadata["format_version"], v != "1" { throw WeightFileError.unsupportedVersion(path: path, version: v) }
        } catch {
            munmap(m, fileSize)
            throw error
        }
    }

    deinit { munmap(base, fileSize) }

    /// Raw bytes of a tensor inside the (read-only) mapping.
    public func rawPointer(_ info: TensorInfo) -> UnsafeRawPointer { UnsafeRawPointer(base + dataStart + info.begin) }

    /// A tensor widened to Float32: a zero-copy view for aligned F32 (read-only memory: never write through it), a
    /// converted copy for F16/BF16.
    public func floatTensor(_ info: TensorInfo) throws -> Tensor {
        guard info.dtype.isFloat else { throw WeightFileError.wrongDType(key: info.name, dtype: info.dtype.rawValue) }
        let raw = rawPointer(info)
        if info.dtype == .f32 && Int(bitPattern: raw) % 4 == 0 {
            return Tensor(viewing: UnsafeMutablePointer(mutating: raw.assumingMemoryBound(to: Float.self)), shape: info.shape, owner: self)
        }
        let t = Tensor(uninitialized: info.shape)
        HalfConversion.widen(raw, dtype: info.dtype, count: info.count, into: t.data)
        releasePages(begin: info.begin, end: info.end)  // the copy is what stays resident, not the mapped bytes too
        return t
    }

    /// Drops the resident mapped pages of one tensor (after a layer has made its own copy of it, e.g. packed).
    public func releasePages(_ info: TensorInfo) { releasePages(begin: info.begin, end: info.end) }

    /// `madvise(MADV_DONTNEED)` on the whole pages inside data bytes `begin..<end` (private, never-written
    /// mapping: a later read faults the same bytes back in from the file).
    private func releasePages(begin: Int, end: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (dataStart + begin + page - 1) / page * page, stop = (dataStart + end) / page * page
        guard stop > start else { return }
        _ = madvise(base + start, stop - start, MADV_DONTNEED)
    }

    /// Integer data (I64, I32, U8) as `Int`s — fixtures and auxiliary tensors.
    public func ints(_ name: String) throws -> [Int] {
        guard let info = tensors[name] else { throw WeightFileError.missingTensor(key: name) }
        let raw = rawPointer(info)
        switch info.dtype {
        case .i64: return (0..<info.count).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: return (0..<info.count).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .u8: return (0..<info.count).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
        default: return try floatTensor(info).scalars.map { Int($0) }
        }
    }

    /// A scoped reader for the tensors under `prefix` (e.g. `"decoder"`).
    /// `precision` is how the layers under it store their matmul weights (``MatmulPrecision``).
    public func scope(_ prefix: String, precision: MatmulPrecision = .fp32) -> WeightScope {
        WeightScope(file: self, prefix: prefix.isEmpty ? "" : prefix + ".", usage: WeightUsage(), precision: precision)
    }

    /// Hands the resident pages of one component's tensors (names under `component.`) back to the kernel
    /// (`madvise(MADV_DONTNEED)`), so a pipeline that is done with a stage does not keep its mapped weights
    /// in its resident set. Nothing is lost: the mapping is private and never written, so a later read
    /// faults the same bytes back in from the file. Only whole pages inside the component's byte range are
    /// released, never a page shared with a neighbouring component.
    public func releasePages(component: String) {
        let prefix = component + "."
        var lo = Int.max, hi = 0
        for (name, info) in tensors where name.hasPrefix(prefix) && info.end > info.begin {
            lo = min(lo, info.begin); hi = max(hi, info.end)
        }
        guard lo < hi else { return }
        releasePages(begin: lo, end: hi)
    }

    /// After a model has been built from `component`: when none of its tensors is F32 (every one was widened into
    /// a copy, none is a view of the mapping), hands the component's mapped pages back at once, so F16/BF16
    /// weights are resident once, as F32, instead of twice. A no-op for F32 components, whose tensors view the map.
    public func releasePagesIfCopied(component: String) {
        let prefix = component + "."
        guard !tensors.contains(where: { $0.key.hasPrefix(prefix) && $0.value.dtype == .f32 }) else { return }
        releasePages(component: component)
    }

    /// A metadata value, or an error naming the missing key.
    public func requireMetadata(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw WeightFileError.missingMetadata(key: key) }
        return v
    }
}
