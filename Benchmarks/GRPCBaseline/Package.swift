// swift-tools-version: 6.0
// grpc-baseline: the same unary Ping served and driven by grpc-swift-2 over TLS on HTTP/2, the
// baseline docs/BENCHMARKS.md compares Tally's transport with. A package of its own so that
// neither the server nor tally-bench depends on gRPC.
import Foundation
import PackageDescription

/// Path dependencies are named after their directories, which differ between clones.
let benchmarks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let mainPackage = benchmarks.deletingLastPathComponent().lastPathComponent.lowercased()

let settings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "GRPCBaseline",
  platforms: [.macOS(.v15)],
  products: [.executable(name: "grpc-baseline", targets: ["grpc-baseline"])],
  dependencies: [
    .package(path: ".."),
    .package(path: "../.."),
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
  ],
  targets: [
    .executableTarget(
      name: "grpc-baseline",
      dependencies: [
        .product(name: "BenchKit", package: benchmarks.lastPathComponent.lowercased()),
        .product(name: "TallyProto", package: mainPackage),
        .product(name: "TallyWire", package: mainPackage),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: settings
    )
  ],
  swiftLanguageModes: [.v6]
)
