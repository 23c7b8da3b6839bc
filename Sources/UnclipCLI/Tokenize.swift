// `unclip-run tokenize`: the 77 padded ids the text encoder will see.
import ArgumentParser
import Foundation
import Models
import Tokenizer
import WeightIO

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the 77 padded CLIP token ids of a prompt.")

    @Argument(help: "The text to tokenize.")
    var text: String

    @Option(name: .long, help: "Weights file whose tokenizer to use (default: the built-in weights).")
    var weights: String?

    @Flag(name: .long, help: "Print a JSON array.")
    var json = false

    func run() throws {
        let path = try WeightsLocator.resolve(weights)
        let tokenizer: CLIPTokenizer
        do { tokenizer = try CLIPTokenizer(file: try WeightFile(path: path)) } catch { throw CLIError("\(error)") }
        let t = tokenizer.tokenize(text)
        if t.truncated {
            // diffusers' pipeline warns the same way.
            FileHandle.standardError.write(Data(("warning: the following part of your input was truncated because CLIP can only handle "
                + "sequences up to \(tokenizer.maxLength) tokens: \(tokenizer.decode(t.droppedIDs))\n").utf8))
        }
        print(json ? "[" + t.ids.map(String.init).joined(separator: ", ") + "]" : t.ids.map(String.init).joined(separator: " "))
    }
}
