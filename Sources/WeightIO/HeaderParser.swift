// Validation of a safetensors header: every rule in weights/FORMAT.md, checked before any data is read.
import Foundation

extension WeightFile {
    struct ParsedHeader {
        var tensors: [String: TensorInfo]
        var metadata: [String: String]
        var dataStart: Int
    }

    static func parseHeader(base: UnsafeRawPointer, fileSize: Int, path: String) throws -> ParsedHeader {
        let n = base.loadUnaligned(as: UInt64.self).littleEndian
        guard n <= UInt64(maxHeaderBytes) else {
            throw WeightFileError.headerTooLarge(path: path, length: n, limit: maxHeaderBytes)
        }
        guard 8 + Int(n) <= fileSize else { throw WeightFileError.headerPastEnd(path: path, length: n, fileSize: fileSize) }
        let json = Data(bytes: base + 8, count: Int(n))
        guard let text = String(data: json, encoding: .utf8) else {
            throw WeightFileError.badHeader(path: path, reason: "not valid UTF-8")
        }
        guard text.first == "{" else { throw WeightFileError.badHeader(path: path, reason: "does not start with '{'") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: json, options: []) } catch {
            throw WeightFileError.badHeader(path: path, reason: "invalid JSON")
        }
        guard let dict = object as? [String: Any] else { throw WeightFileError.badHeader(path: path, reason: "not a JSON object") }
        let dataStart = 8 + Int(n), dataLength = fileSize - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw WeightFileError.badHeader(path: path, reason: "__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw WeightFileError.badHeader(path: path, reason: "__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            tensors[name] = try parseEntry(name: name, value: value, dataLength: dataLength, path: path)
        }
        // No overlaps, no holes, no trailing bytes (safetensors requires the buffer to be fully indexed).
        let sorted = tensors.values.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var previous: TensorInfo?
        for t in sorted {
            if t.begin < cursor, let previous { throw WeightFileError.overlap(path: path, first: previous.name, second: t.name) }
            if t.begin > cursor { throw WeightFileError.uncovered(path: path, reason: "bytes \(cursor)..<\(t.begin) of the data buffer belong to no tensor") }
            cursor = t.end
            if t.end > t.begin { previous = t }
        }
        if cursor != dataLength {
            throw WeightFileError.uncovered(path: path, reason: "the data buffer is \(dataLength) bytes but the tensors cover \(cursor) (truncated or trailing data)")
        }
        return ParsedHeader(tensors: tensors, metadata: metadata, dataStart: dataStart)
    }

    private static func parseEntry(name: String, value: Any, dataLength: Int, path: String) throws -> TensorInfo {
        func bad(_ r: String) -> WeightFileError { .badEntry(path: path, tensor: name, reason: r) }
        guard let e = value as? [String: Any] else { throw bad("entry is not an object") }
        guard let ds = e["dtype"] as? String else { throw bad("missing dtype") }
        guard let dtype = DType(rawValue: ds) else { throw bad("unknown dtype '\(ds)' (supported: F32, F16, BF16, I64, I32, U8)") }
        guard let shapeAny = e["shape"] as? [Any] else { throw bad("missing or invalid shape") }
        var shape: [Int] = []
        for d in shapeAny {
            guard let v = exactInt(d), v >= 0 else { throw bad("shape \(shapeAny) has an invalid dimension") }
            shape.append(v)
        }
        guard let offs = e["data_offsets"] as? [Any], offs.count == 2,
              let begin = exactInt(offs[0]), let end = exactInt(offs[1]) else { throw bad("missing or invalid data_offsets") }
        guard begin >= 0, end >= begin else {
            throw bad("data_offsets [\(begin), \(end)] are not an increasing pair of non-negative integers")
        }
        guard end <= dataLength else { throw bad("data_offsets end \(end) lies past the \(dataLength)-byte data buffer (truncated file?)") }
        var elements = 1
        for d in shape {
            let (r, o) = elements.multipliedReportingOverflow(by: d)
            guard !o else { throw bad("shape \(shape) overflows") }
            elements = r
        }
        let (bytes, o) = elements.multipliedReportingOverflow(by: dtype.size)
        guard !o, bytes == Int(end - begin) else {
            throw bad("shape \(shape) × \(dtype.rawValue) needs \(o ? "too many" : String(bytes)) bytes but data_offsets span \(end - begin)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }
}

/// A JSON number that is an exact integer (rejects fractions, booleans and absurd magnitudes).
func exactInt(_ v: Any) -> Int? {
    if type(of: v) == Bool.self { return nil }
    if let i = v as? Int { return i }
    if let d = v as? Double, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
    return nil
}
