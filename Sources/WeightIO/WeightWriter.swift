// Writes the safetensors layout (weights/FORMAT.md): tensors sorted by (dtype size desc, name), header
// padded with spaces to 8 bytes, written to a temporary name and renamed.
import Foundation
import TensorCore

/// Builds a weights file in memory order and writes it atomically.
public struct WeightWriter {
    private var entries: [(name: String, dtype: DType, shape: [Int], bytes: Data)] = []
    /// `__metadata__` entries.
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a Float32 tensor stored as `dtype` (F32, F16 or BF16; BF16 rounds to nearest even).
    public mutating func add(_ name: String, _ t: Tensor, as dtype: DType = .f32) {
        var d = Data(capacity: t.count * dtype.size)
        for i in 0..<t.count {
            let v = t.data[i]
            switch dtype {
            case .f32: withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) }
            case .f16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { d.append(contentsOf: $0) }
            case .bf16:
                let b = v.bitPattern
                let r = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
                withUnsafeBytes(of: r.littleEndian) { d.append(contentsOf: $0) }
            default: preconditionFailure("add: \(dtype) is not a float type")
            }
        }
        entries.append((name, dtype, t.shape, d))
    }

    /// Adds integer data stored as I64.
    public mutating func addInts(_ name: String, _ values: [Int], shape: [Int]) {
        var d = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { d.append(contentsOf: $0) } }
        entries.append((name, .i64, shape, d))
    }

    /// The complete file contents.
    public func serialized() throws -> Data {
        let ordered = entries.sorted { ($0.dtype.size, $1.name) > ($1.dtype.size, $0.name) }
        var header: [String: Any] = [:]
        var offset = 0
        for e in ordered {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in ordered { out.append(e.bytes) }
        return out
    }

    /// Writes to `path` via a temporary file in the same directory, then renames.
    public func write(to path: String) throws {
        let data = try serialized()
        let tmp = path + ".tmp-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
            if rename(tmp, path) != 0 { throw CocoaError(.fileWriteUnknown) }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// A copy of the weights file `source` at `destination` with its `__metadata__` changed by `edit`: the header is
    /// rewritten (padded to keep the data 8-aligned), the tensor bytes are copied unchanged. For tools and tests.
    public static func copy(_ source: String, to destination: String, editingMetadata edit: (inout [String: String]) -> Void) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        guard data.count >= 8 else { throw WeightFileError.truncated(path: source, size: data.count) }
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n <= data.count - 8, var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any] else {
            throw WeightFileError.badHeader(path: source, reason: "not a JSON object")
        }
        var meta = header["__metadata__"] as? [String: String] ?? [:]
        edit(&meta)
        header["__metadata__"] = meta
        var text = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while text.count % 8 != 0 { text.append(0x20) }
        var out = Data((0..<8).map { UInt8((text.count >> (8 * $0)) & 0xff) })
        out.append(text)
        out.append(data.subdata(in: (8 + n)..<data.count))
        try out.write(to: URL(fileURLWithPath: destination))
    }
}
