// swift-tools-version:6.1
import PackageDescription

/// One settings array for every target, so that the language mode and the
/// upcoming features never drift between modules.
let strictSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "Tally",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "tallyd", targets: ["tallyd"]),
    .executable(name: "tally", targets: ["tally"]),
    .library(name: "TallyClient", targets: ["TallyClient"]),
    .library(name: "TallyWire", targets: ["TallyWire"]),
    .library(name: "TallyProto", targets: ["TallyProto"]),
    // Test helpers. A root target outside every product makes SwiftPM build every executable of
    // every dependency (swift-protobuf's vendored protoc among them: ten minutes), so it has one.
    .library(name: "TallyTestSupport", targets: ["TallyTestSupport"]),
    .library(name: "TallyServer", targets: ["TallyServer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
  ],
  targets: [
    .target(
      name: "TallyProto",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TallyWire",
      dependencies: [
        "TallyProto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .systemLibrary(
      name: "CLibPQ",
      pkgConfig: "libpq",
      providers: [.apt(["libpq-dev"])]
    ),
    .target(
      name: "TallyStore",
      dependencies: [
        "CLibPQ",
        "TallyWire",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TallyCore",
      dependencies: [
        "TallyStore",
        "TallyWire",
        "TallyProto",
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TallyServer",
      dependencies: [
        "TallyCore",
        "TallyWire",
        "TallyProto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Atomics", package: "swift-atomics"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TallyClient",
      dependencies: [
        "TallyWire",
        .product(name: "DequeModule", package: "swift-collections"),
        "TallyProto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "tallyd",
      dependencies: [
        "TallyServer",
        "TallyCore",
        "TallyStore",
        "TallyWire",
        "TallyProto",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "tally",
      dependencies: [
        "TallyClient",
        "TallyProto",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "TallyWireTests",
      dependencies: [
        "TallyWire",
        "TallyProto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOTestUtils", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "TallyClientTests",
      dependencies: [
        "TallyClient",
        "TallyProto",
        "TallyWire",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TallyTestSupport",
      dependencies: [
        "TallyStore",
        "TallyCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Tests/TallyTestSupport",
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "TallyStoreTests",
      dependencies: [
        "TallyStore",
        "TallyWire",
        "TallyTestSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "TallyServerTests",
      dependencies: [
        "TallyTestSupport",
        "TallyStore",
        "TallyServer",
        "TallyClient",
        "TallyCore",
        "TallyWire",
        "TallyProto",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
  ]
)
