// swift-tools-version:6.1
import Foundation
import PackageDescription

/// The root package's identity is its checkout directory's name, whatever the clone is called.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .lastPathComponent.lowercased()

/// libFuzzer targets: `swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address`,
/// run by `scripts/fuzz` (and so by `make test`).
let package = Package(
  name: "TallyFuzz",
  dependencies: [
    .package(path: ".."),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
  ],
  targets: [
    .executableTarget(
      name: "FuzzWire",
      dependencies: [
        .product(name: "TallyWire", package: rootPackage),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("InternalImportsByDefault"),
        .enableUpcomingFeature("MemberImportVisibility"),
      ]
    )
  ]
)
