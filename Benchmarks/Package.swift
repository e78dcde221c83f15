// swift-tools-version: 6.0
// tally-bench: load scenarios against a running tallyd (docs/BENCHMARKS.md). A package of its own so
// that the server does not depend on HdrHistogram; it uses the main package's client by path.
import Foundation
import PackageDescription

/// A path dependency is named after its directory, which differs between clones.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .lastPathComponent.lowercased()

let settings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "TallyBenchmarks",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "tally-bench", targets: ["tally-bench"]),
    .library(name: "BenchKit", targets: ["BenchKit"]),
  ],
  dependencies: [
    .package(path: ".."),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
  ],
  targets: [
    .target(
      name: "BenchKit",
      dependencies: [
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: settings
    ),
    .executableTarget(
      name: "tally-bench",
      dependencies: [
        "BenchKit",
        .product(name: "TallyClient", package: mainPackage),
        .product(name: "TallyWire", package: mainPackage),
        .product(name: "TallyProto", package: mainPackage),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: settings
    ),
    .testTarget(name: "BenchKitTests", dependencies: ["BenchKit"], swiftSettings: settings),
  ],
  swiftLanguageModes: [.v6]
)
