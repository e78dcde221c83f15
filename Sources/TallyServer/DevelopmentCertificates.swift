import Foundation

/// A self-signed CA and a server certificate for localhost, made with the system's `openssl`.
///
/// For `tallyd dev` and the tests only: production certificates come from the operator.
public struct DevelopmentCertificates: Sendable, Hashable {
  public var caCertificatePath: String
  public var serverCertificatePath: String
  public var serverKeyPath: String

  /// Reuses the files in `directory` when all three exist, else makes new ones there.
  public static func ensure(in directory: String) throws -> DevelopmentCertificates {
    let base = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
    let certificates = DevelopmentCertificates(
      caCertificatePath: base.appendingPathComponent("ca.pem").path,
      serverCertificatePath: base.appendingPathComponent("server.pem").path,
      serverKeyPath: base.appendingPathComponent("server.key").path
    )
    let files = [certificates.caCertificatePath, certificates.serverCertificatePath, certificates.serverKeyPath]
    if files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { return certificates }
    try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    try certificates.generate(in: base)
    return certificates
  }

  private func generate(in base: URL) throws {
    let caKey = base.appendingPathComponent("ca.key").path
    let request = base.appendingPathComponent("server.csr").path
    let extensions = base.appendingPathComponent("server.ext").path
    try """
    subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
    basicConstraints=critical,CA:FALSE
    keyUsage=critical,digitalSignature
    extendedKeyUsage=serverAuth
    """.write(toFile: extensions, atomically: true, encoding: .utf8)
    let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try Self.openssl(
      ["req", "-x509"] + curve + [
        "-keyout", caKey, "-out", self.caCertificatePath, "-days", "3650", "-subj", "/CN=Tally development CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      ]
    )
    try Self.openssl(["req"] + curve + ["-keyout", self.serverKeyPath, "-out", request, "-subj", "/CN=localhost"])
    try Self.openssl([
      "x509", "-req", "-in", request, "-CA", self.caCertificatePath, "-CAkey", caKey, "-CAcreateserial",
      "-out", self.serverCertificatePath, "-days", "825", "-extfile", extensions,
    ])
    for file in [request, extensions] { try? FileManager.default.removeItem(atPath: file) }
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: self.serverKeyPath)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: caKey)
  }

  private static func openssl(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl"] + arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let output = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let text = String(decoding: output, as: UTF8.self)
      throw ServerConfigurationError("openssl \(arguments.first ?? "") failed: \(text)")
    }
  }
}
