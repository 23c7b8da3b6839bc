// libFuzzer target FuzzTokenizer: FuzzBodies.tokenizer on each input (see Tests/Fuzz/FuzzBodies). Built and run by scripts/fuzz.sh
// (-sanitize=fuzzer,address); SwiftPM names the entry point FuzzTokenizer_main, which hands the callback to libFuzzer.
import Foundation
import FuzzBodies
import FuzzDriver

@_cdecl("FuzzTokenizer_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    unclip_fuzz_main(argc, argv) { data, size in
        FuzzBodies.tokenizer(size == 0 ? Data() : Data(bytes: data!, count: size))
        return 0
    }
}
