// `unclip-run inspect FILE`: what a weights file holds.
import ArgumentParser
import Foundation
import WeightIO

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a weights file: components, configs, tensor and parameter counts.")

    @Argument(help: "Weights file (.safetensors in the unclip layout).")
    var file: String

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let wf: WeightFile
        do { wf = try WeightFile(path: file) } catch { throw CLIError("\(error)") }
        var components: [String: (tensors: Int, params: Int, dtypes: Set<String>)] = [:]
        for t in wf.tensors.values {
            let comp = t.name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? t.name
            var c = components[comp] ?? (0, 0, [])
            c.tensors += 1; c.params += t.count; c.dtypes.insert(t.dtype.rawValue)
            components[comp] = c
        }
        let order = (wf.metadata["components"]?.split(separator: ",").map(String.init) ?? []) + components.keys.sorted()
        var seen = Set<String>()
        let names = order.filter { components[$0] != nil && seen.insert($0).inserted }
        if json {
            var comps: [[String: Any]] = []
            for n in names {
                let c = components[n]!
                var entry: [String: Any] = ["name": n, "tensors": c.tensors, "parameters": c.params, "dtypes": c.dtypes.sorted()]
                if let cfg = wf.metadata[n + ".config"], let obj = try? JSONSerialization.jsonObject(with: Data(cfg.utf8)) { entry["config"] = obj }
                if let cls = wf.metadata[n + ".class"] { entry["class"] = cls }
                comps.append(entry)
            }
            let out: [String: Any] = ["file": file, "file_size": wf.fileSize, "format": wf.metadata["format"] ?? NSNull(),
                                      "format_version": wf.metadata["format_version"] ?? NSNull(),
                                      "pipeline": wf.metadata["pipeline"] ?? NSNull(), "components": comps,
                                      "sampling_defaults": wf.metadata["sampling_defaults"].flatMap {
                                          try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull(),
                                      "tensors": wf.tensors.count, "parameters": components.values.reduce(0) { $0 + $1.params }]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("file:           \(file)")
        print("size:           \(formatBytes(wf.fileSize))")
        print("format:         \(wf.metadata["format"] ?? "(none)") version \(wf.metadata["format_version"] ?? "(none)")")
        if let p = wf.metadata["pipeline"] { print("pipeline:       \(p)") }
        print("tensors:        \(wf.tensors.count)")
        print("sampling:       \(wf.metadata["sampling_defaults"].map { "\($0) (the file's recommendation)" } ?? "diffusers' defaults")")
        print("")
        print("component          class                          tensors   parameters  dtype")
        for n in names {
            let c = components[n]!
            let cls = wf.metadata[n + ".class"] ?? "-"
            print("\(n.padding(toLength: 18, withPad: " ", startingAt: 0)) \(cls.padding(toLength: 30, withPad: " ", startingAt: 0)) \(String(c.tensors).leftPad(7)) \(formatParams(c.params).leftPad(12))  \(c.dtypes.sorted().joined(separator: ","))")
        }
        let keys = wf.metadata.keys.filter { $0.hasSuffix(".config") }.sorted()
        if !keys.isEmpty {
            print("")
            for k in keys {
                let v = wf.metadata[k]!
                print("\(k): \(v.count > 400 ? String(v.prefix(400)) + "…" : v)")
            }
        }
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 30 { return String(format: "%.2f GiB", Double(n) / Double(1 << 30)) + " (\(n) bytes)" }
    if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) + " (\(n) bytes)" }
    return "\(n) bytes"
}

func formatParams(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : String(n)
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
