// The AUTOMATIC1111 "parameters" text chunk convention, read by most image viewers and tools.

/// Generation parameters for the PNG `parameters` chunk:
/// `prompt\nSteps: 25, Sampler: unclip, CFG scale: 8.0, Seed: 42, Size: 256x256, Model: karlo-v1-alpha`
/// followed by unclip-specific `key: value` pairs.
public struct GenerationParameters: Sendable {
    public var prompt: String
    public var steps: Int
    public var sampler: String
    public var cfgScale: Double
    public var seed: UInt64
    public var width: Int, height: Int
    public var model: String
    /// Further `key: value` pairs appended in order (e.g. per-stage steps).
    public var extra: [(String, String)]

    public init(prompt: String, steps: Int, sampler: String, cfgScale: Double, seed: UInt64, width: Int, height: Int,
                model: String, extra: [(String, String)] = []) {
        self.prompt = prompt; self.steps = steps; self.sampler = sampler; self.cfgScale = cfgScale
        self.seed = seed; self.width = width; self.height = height; self.model = model; self.extra = extra
    }

    /// The chunk text.
    public var text: String {
        var fields = ["Steps: \(steps)", "Sampler: \(sampler)", "CFG scale: \(cfgScale)", "Seed: \(seed)",
                      "Size: \(width)x\(height)", "Model: \(model)"]
        fields += extra.map { "\($0.0): \($0.1)" }
        return prompt + "\n" + fields.joined(separator: ", ")
    }
}
