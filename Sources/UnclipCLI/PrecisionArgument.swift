// `--precision fp32|bf16|auto`, parsed as the engine's PrecisionChoice (its rules and errors are TensorCore's).
import ArgumentParser
import TensorCore

extension PrecisionChoice: ExpressibleByArgument {
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
