// Output naming (prompt slug + seed, after apple/ml-stable-diffusion's self-describing names), atomic PNG writing with the
// AUTOMATIC1111 `parameters` chunk, and preview file names.
import Foundation
import ImageIO
import Pipeline

enum OutputFiles {
    /// `"A red circle, on blue!"` → `"a-red-circle-on-blue"`: ASCII letters and digits, runs of anything else → one
    /// `-`, at most 60 characters (cut at a `-`), `"image"` when nothing is left.
    static func slug(_ text: String, maxLength: Int = 60) -> String {
        var out = "", dash = false
        for ch in text.lowercased().unicodeScalars {
            if ch.isASCII && (CharacterSet.alphanumerics.contains(ch)) {
                if dash && !out.isEmpty { out += "-" }
                out.unicodeScalars.append(ch)
                dash = false
            } else {
                dash = true
            }
        }
        if out.count > maxLength {
            out = String(out.prefix(maxLength))
            if let cut = out.lastIndex(of: "-"), out.distance(from: out.startIndex, to: cut) >= maxLength / 2 {
                out = String(out[..<cut])
            }
        }
        return out.isEmpty ? "image" : out
    }

    /// The PNG paths for `seeds.count` images.
    ///
    /// - `explicit` given: that path for one image, `X-1.png` … `X-N.png` for several (overwritten if present).
    /// - otherwise `<stem>-s<seed>.png` in the current directory, with `-2`, `-3`, … added when a file exists.
    static func paths(explicit: String?, stem: String, seeds: [UInt64]) -> [String] {
        if let explicit {
            if seeds.count == 1 { return [explicit] }
            let base = String(explicit.dropLast(4)), ext = String(explicit.suffix(4))
            return (1...seeds.count).map { "\(base)-\($0)\(ext)" }
        }
        var taken = Set<String>()
        return seeds.map { seed in
            var name = "\(stem)-s\(seed).png", k = 2
            while FileManager.default.fileExists(atPath: name) || taken.contains(name) {
                name = "\(stem)-s\(seed)-\(k).png"; k += 1
            }
            taken.insert(name)
            return name
        }
    }

    /// Fails before any compute when an output directory is missing or not writable.
    static func checkWritable(_ paths: [String]) throws {
        for path in paths {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("output directory \(dir) does not exist (for \(path))")
            }
            guard FileManager.default.isWritableFile(atPath: dir) else { throw CLIError("output directory \(dir) is not writable") }
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                throw CLIError("output \(path) is a directory")
            }
        }
    }

    /// Writes one picture atomically (temporary file, then rename) with the generation parameters embedded.
    static func write(_ image: GeneratedImage, to path: String, parameters: GenerationParameters?) throws {
        let png = Image8(width: image.width, height: image.height, channels: 3, pixels: image.pixels)
        do {
            try PNG.write(png, to: path, text: parameters.map { [("parameters", $0.text)] } ?? [])
        } catch {
            throw CLIError("cannot write \(path): \(error)")
        }
    }

    /// `X.png` → `X.<stage>-<step>.png`.
    static func previewPath(for output: String, stage: Stage, step: Int, steps: Int) -> String {
        let width = String(steps).count
        let padded = String(repeating: "0", count: max(0, width - String(step).count)) + String(step)
        return "\(output.dropLast(4)).\(stage.rawValue)-\(padded).png"
    }
}
