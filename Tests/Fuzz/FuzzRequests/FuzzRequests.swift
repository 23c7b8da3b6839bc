// libFuzzer target FuzzRequests: FuzzBodies.requests on each input (see Tests/Fuzz/FuzzBodies). Built and run by scripts/fuzz.sh
// (-sanitize=fuzzer,address); SwiftPM names the entry point FuzzRequests_main, which hands the callback to libFuzzer.
import Foundation
import FuzzBodies
import FuzzDriver

@_cdecl("FuzzRequests_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    unclip_fuzz_main(argc, argv) { data, size in
        FuzzBodies.requests(size == 0 ? Data() : Data(bytes: data!, count: size))
        return 0
    }
}
