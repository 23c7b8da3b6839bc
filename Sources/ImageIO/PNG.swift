// PNG reading and writing through libpng (via PNGShim), with text chunks and atomic file replacement.
import Foundation
import PNGShim

/// An 8-bit image, row-major, interleaved channels (3 = RGB, 4 = RGBA).
public struct Image8: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "pixel buffer size does not match \(width)×\(height)×\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}

/// A PNG problem, naming the file and what is wrong.
public struct PNGError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// PNG codec.
public enum PNG {
    /// A decoded PNG: 8-bit RGBA pixels plus its text chunks in file order.
    public struct Decoded: Sendable {
        public var image: Image8
        public var text: [(key: String, value: String)]
        /// The first text chunk named `key`.
        public func text(_ key: String) -> String? { text.first { $0.key == key }?.value }
    }

    /// The most pixels a decoded image may have unless a caller says otherwise: 4096 × 4096 (64 MiB as RGBA).
    public static let defaultMaxPixels = 4096 * 4096

    /// Decodes PNG bytes of any common kind into 8-bit RGBA. `name` appears in errors. An image of more than
    /// `maxPixels` pixels (by its IHDR header) is refused before its pixels are decoded or any memory is taken
    /// for them; sides are at most 16384 and an ancillary chunk at most 8 MiB decompressed.
    public static func decode(_ data: Data, name: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> Decoded {
        if data.isEmpty { throw PNGError(path: name, reason: "empty file, not a PNG") }
        var w: UInt32 = 0, h: UInt32 = 0
        var px: UnsafeMutablePointer<UInt8>?
        var tx: UnsafeMutablePointer<CChar>?
        var tlen = 0
        var err = [CChar](repeating: 0, count: 512)
        let rc = data.withUnsafeBytes { buf -> Int32 in
            guard let base = buf.baseAddress else { return -2 }
            return unclip_png_decode(base.assumingMemoryBound(to: UInt8.self), buf.count, UInt64(max(0, maxPixels)), &w, &h, &px,
                                     &tx, &tlen, &err, err.count)
        }
        if rc == -2 { throw PNGError(path: name, reason: "empty file, not a PNG") }
        guard rc == 0, let px else { throw PNGError(path: name, reason: String(cString: err)) }
        defer { unclip_png_free(px); unclip_png_free(tx) }
        let pixels = Array(UnsafeBufferPointer(start: px, count: Int(w) * Int(h) * 4))
        var text: [(String, String)] = []
        if let tx, tlen > 0 {
            let fields = UnsafeBufferPointer(start: UnsafeRawPointer(tx).assumingMemoryBound(to: UInt8.self), count: tlen)
                .split(separator: 0, omittingEmptySubsequences: false)
            var i = 0
            while i + 1 < fields.count {
                text.append((String(decoding: fields[i], as: UTF8.self), String(decoding: fields[i + 1], as: UTF8.self)))
                i += 2
            }
        }
        return Decoded(image: Image8(width: Int(w), height: Int(h), channels: 4, pixels: pixels), text: text)
    }

    /// The largest PNG file ``read(path:maxPixels:)`` reads: 128 MiB (a 4096² RGBA image stored uncompressed is 64 MiB).
    public static let maxFileBytes = 128 << 20

    /// Reads and decodes a PNG file (at most `maxPixels` pixels, as ``decode(_:name:maxPixels:)``, and at most
    /// ``maxFileBytes`` bytes).
    public static func read(path: String, maxPixels: Int = defaultMaxPixels) throws -> Decoded {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxFileBytes {
            throw PNGError(path: path, reason: "file is \(size) bytes, over the \(maxFileBytes)-byte limit for a PNG")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PNGError(path: path, reason: "cannot read file (\(FileManager.default.fileExists(atPath: path) ? "unreadable" : "no such file"))")
        }
        return try decode(data, name: path, maxPixels: maxPixels)
    }

    /// Encodes an RGB or RGBA image with text chunks (tEXt for ASCII, iTXt for UTF-8).
    public static func encode(_ image: Image8, text: [(key: String, value: String)] = []) throws -> Data {
        for (k, _) in text where k.isEmpty || k.utf8.count > 79 {
            throw PNGError(path: "<encode>", reason: "text chunk key '\(k)' must be 1–79 bytes")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var outLen = 0
        var err = [CChar](repeating: 0, count: 512)
        let keys = text.map { strdup($0.key) }, values = text.map { strdup($0.value) }
        defer { keys.forEach { free($0) }; values.forEach { free($0) } }
        let rc = image.pixels.withUnsafeBufferPointer { px in
            keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { kp in
                values.map { UnsafePointer($0) }.withUnsafeBufferPointer { vp in
                    unclip_png_encode(UInt32(image.width), UInt32(image.height), Int32(image.channels), px.baseAddress,
                                      Int32(text.count), kp.baseAddress, vp.baseAddress, &out, &outLen, &err, err.count)
                }
            }
        }
        guard rc == 0, let out else { throw PNGError(path: "<encode>", reason: String(cString: err)) }
        defer { unclip_png_free(out) }
        return Data(bytes: out, count: outLen)
    }

    /// Encodes and writes atomically: a temporary file in the same directory, then rename. A failure
    /// never leaves a partial file at `path`.
    public static func write(_ image: Image8, to path: String, text: [(key: String, value: String)] = []) throws {
        let data = try encode(image, text: text)
        try AtomicFile.write(data, to: path)
    }
}

/// Writing files so that readers see either the old file or the complete new one.
public enum AtomicFile {
    /// Writes `data` to a hidden temporary next to `path`, fsyncs, and renames it over `path`.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw PNGError(path: path, reason: "output directory \(dir) does not exist")
        }
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw PNGError(path: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { buf -> Bool in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw PNGError(path: path, reason: "write failed: \(reason)")
        }
    }
}
