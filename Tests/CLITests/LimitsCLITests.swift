// Limits on what a user controls, as `unclip-run` reports them (issue #14): each a clear message naming the input,
// a non-zero exit and no file written.
import Foundation
import ImageIO
import XCTest

final class LimitsCLITests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-limits-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    func testInputsOverTheLimitsFailClearlyAndWriteNothing() throws {
        let strip = dir + "/strip.png", bomb = dir + "/bomb.png", out = dir + "/never.png"
        try PNG.write(Image8(width: 16384, height: 1, channels: 3, pixels: [UInt8](repeating: 200, count: 16384 * 3)), to: strip)
        // A 69-byte PNG (valid CRCs) declaring 20000×20000 RGB: refused from its header, nothing decoded.
        let hex = "89504e470d0a1a0a0000000d4948445200004e2000004e2008020000006c12d16e0000000c49444154789c636064620600000e0007d76fe4"
            + "780000000049454e44ae426082"
        let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
        try Data(bytes).write(to: URL(fileURLWithPath: bomb))
        let weights = GenerateCLITests.weights
        let cases: [([String], String)] = [
            (["variations", "--image", strip, "--weights", weights, "--output", out],
             "--image is 16384×1: sides more than 16:1 apart are not accepted"),
            (["variations", "--image", bomb, "--weights", weights, "--output", out],
             "cannot read --image \(bomb): \(bomb): image is 20000x20000 = 400000000 pixels, over the limit of 16777216 pixels"),
            (["generate", String(repeating: "red ", count: 2501), "--weights", weights, "--output", out],
             "the prompt is 10004 characters, over the limit of 10000"),
            (["generate", "x", "--weights", weights, "-n", "257", "--output", out], "--count must be between 1 and 256, got 257"),
            (["generate", "x", "--weights", weights, "--super-res-steps", "1001", "--output", out],
             "--super-res-steps must be between 1 and 1000, got 1001"),
        ]
        for (args, message) in cases {
            let r = try runCLI(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " ").prefix(120) + "")
            XCTAssertTrue(r.err.contains(message), "\(args.joined(separator: " ").prefix(120)):\n\(r.err)")
            XCTAssertEqual(files, ["bomb.png", "strip.png"])
        }
    }
}
