// An installed unclip-run finds its model (issue #14): scripts/install.sh lays out PREFIX/bin and PREFIX/share/unclip,
// and the copy runs from an empty folder, away from the checkout; the user's data folder is the next place it looks.
import Foundation
import ImageIO
import XCTest

final class InstallCLITests: XCTestCase {
    private var root = ""
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "unclip-install-\(getpid())-\(UUID().uuidString.prefix(8))"
        for d in ["prefix", "empty", "home", "data"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true)
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// Runs `executable` from the empty folder, with no UNCLIP_WEIGHTS* and HOME, XDG_DATA_HOME in the scratch folder.
    private func run(_ executable: String, _ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("UNCLIP_WEIGHTS") }
        environment["HOME"] = root + "/home"
        environment["XDG_DATA_HOME"] = root + "/data"
        return try runCLI(args, env: environment.merging(env) { $1 }, cwd: root + "/empty", executable: executable,
                          replacingEnvironment: true)
    }

    func testAnInstalledCopyFindsItsModelFromAnEmptyFolder() throws {
        let install = try run("/bin/bash", [Self.repo.appendingPathComponent("scripts/install.sh").path, "--binary",
                                            try cliExecutable().path, root + "/prefix"])
        XCTAssertEqual(install.status, 0, install.err)
        let binary = root + "/prefix/bin/unclip-run", shared = root + "/prefix/share/unclip/unclip-builtin.safetensors"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary))
        XCTAssertTrue(FileManager.default.fileExists(atPath: shared))

        let args = ["a red circle on a blue background", "--seed", "3", "--size", "64", "--prior-steps", "3", "--decoder-steps", "3",
                    "--quiet", "--output", "out.png"]
        let r = try run(binary, args)
        XCTAssertEqual(r.status, 0, r.err)
        let png = try PNG.read(path: root + "/empty/out.png")
        XCTAssertTrue(try XCTUnwrap(png.text("parameters")).contains("Model: unclip-builtin"))

        // Without PREFIX/share: the user's data folder, then nothing (the message lists every place searched).
        try FileManager.default.removeItem(atPath: shared)
        let missing = try run(binary, args)
        XCTAssertNotEqual(missing.status, 0)
        for place in [shared, root + "/data/unclip/unclip-builtin.safetensors", root + "/empty/weights/unclip-builtin.safetensors"] {
            XCTAssertTrue(missing.err.contains(place), "\(place) not in: \(missing.err)")
        }
        try FileManager.default.createDirectory(atPath: root + "/data/unclip", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repo.appendingPathComponent("weights/unclip-builtin.safetensors").path,
                                         toPath: root + "/data/unclip/unclip-builtin.safetensors")
        XCTAssertEqual(try run(binary, args).status, 0)
        // --weights and UNCLIP_WEIGHTS come first.
        let bogus = try run(binary, args, env: ["UNCLIP_WEIGHTS": root + "/nope.safetensors"])
        XCTAssertTrue(bogus.err.contains("cannot open weights file \(root)/nope.safetensors"), bogus.err)
    }
}
