// What each libFuzzer target does with one input (scripts/fuzz.sh builds Tests/Fuzz/Fuzz*/ around these), shared with
// FuzzRegressionTests, which replays every committed corpus and regression input through them in the normal test run.
// Each body may throw away errors (a bad input is expected); it must never trap, leak or hang.
import Foundation
import ImageIO
import ImagesServer
import Models
import Pipeline
import Tokenizer
import WeightIO

public enum FuzzBodies {
    /// The checkout (this file is Tests/Fuzz/FuzzBodies/FuzzBodies.swift), for the weights the bodies load.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let tinyA = root.appendingPathComponent("Tests/Fixtures/models/tiny-a/model.safetensors").path
    static let builtin = root.appendingPathComponent("weights/unclip-builtin.safetensors").path

    static let engine: UnCLIPEngine = {
        do { return try UnCLIPEngine(path: tinyA) } catch { fatalError("fuzz setup: \(error)") }
    }()
    static let tokenizer: CLIPTokenizer = {
        do { return try UnCLIPWeights(path: builtin).tokenizer } catch { fatalError("fuzz setup: \(error)") }
    }()

    /// The weights file: header parser, metadata, scoped loading with shape checks, widening, tokenizer and text
    /// projection loaders, the configs and consistency checks of UnCLIPWeights (the loader mmaps a path: tmpfs).
    public static func weights(_ data: Data) {
        let path = "/dev/shm/unclip-fuzz-weights-\(getpid()).safetensors"
        guard FileManager.default.createFile(atPath: path, contents: data) else { return }
        defer { unlink(path) }
        guard let file = try? WeightFile(path: path) else { return }
        for info in file.tensors.values.sorted(by: { $0.name < $1.name }).prefix(32) where info.dtype.isFloat && info.count <= 1 << 20 {
            _ = try? file.floatTensor(info)
        }
        _ = try? CLIPTokenizer(file: file)
        _ = try? TextProjection(file: file)
        if let weights = try? UnCLIPWeights(path: path) {
            _ = try? weights.resolve(.prompt("a red circle"), GenerationOptions())
        }
    }

    /// The PNG reader (libpng through PNGShim).
    public static func png(_ data: Data) {
        guard let decoded = try? PNG.decode(data, name: "fuzz") else { return }
        precondition(decoded.image.pixels.count == decoded.image.width * decoded.image.height * decoded.image.channels)
        _ = decoded.text("parameters")
    }

    /// The CLIP tokenizer of the built-in weights on any bytes (as UTF-8 with replacement).
    public static func tokenizer(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        let ids = tokenizer.encode(text)
        precondition(ids.allSatisfy { (0..<tokenizer.vocab.count).contains($0) }, "an id outside the vocabulary")
        let padded = tokenizer.tokenize(text)
        precondition(padded.ids.count == tokenizer.maxLength && padded.ids.first == tokenizer.bosID, "not maxLength ids from BOS")
    }

    /// The server's request decoding (first byte: 0 generations JSON, 1 edits form, 2 variations form, boundary "B"),
    /// then the images API's checks and resolution against tiny-a.
    public static func requests(_ data: Data) {
        guard let first = data.first else { return }
        let operation: ImagesOperation = [.generation, .edit, .variation][Int(first % 3)]
        guard let call = try? ImagesCall.decode(operation, body: Array(data.dropFirst()), contentType: "multipart/form-data; boundary=B") else { return }
        _ = try? engine.prepare(call)
    }

    /// The image and mask checks of edits: a 4-byte little-endian length (top bit: strength 0.5), the picture PNG, the
    /// mask PNG (none when empty).
    public static func edits(_ data: Data) {
        guard data.count >= 5 else { return }
        let bytes = [UInt8](data)
        let n = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3] & 0x7f) << 24
        let rest = bytes.dropFirst(4)
        let image = Data(rest.prefix(n)), mask = Data(rest.dropFirst(min(n, rest.count)))
        var call = ImagesCall(operation: .edit)
        call.prompt = "a red circle"
        call.images = [image]
        call.mask = mask.isEmpty ? nil : mask
        call.size = "256x256"
        if bytes[3] & 0x80 != 0 { call.strength = 0.5 }
        if let prepared = try? engine.prepare(call) { precondition(prepared.count == 1 && prepared.side == 256) }
    }

    /// The bodies by fuzz target name.
    public static let targets: [String: (Data) -> Void] = [
        "FuzzWeights": weights, "FuzzPNG": png, "FuzzTokenizer": tokenizer, "FuzzRequests": requests, "FuzzEdits": edits,
    ]
}
