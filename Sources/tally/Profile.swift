import ArgumentParser
import Foundation
import TallyClient

/// Where the CLI finds its profile (`Profile` itself is TallyClient's, shared with tally-bench).
extension Profile {
  /// Reads the profile named by `--profile` or `$TALLY_PROFILE` (which must exist), else the first
  /// of `profile.json` and `dev.json` in the user's config directory; nil when there is none.
  /// Returns the path too, so that a relative `ca_cert` can be found next to the file.
  static func load(explicitPath: String?, environment: [String: String]) throws -> (Profile, path: String)? {
    if let path = explicitPath ?? environment["TALLY_PROFILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
      return (try Self.read(path), path)
    }
    guard let directory = Self.configDirectory(environment) else { return nil }
    for name in ["profile.json", "dev.json"] {
      let path = "\(directory)/tally/\(name)"
      if FileManager.default.fileExists(atPath: path) { return (try Self.read(path), path) }
    }
    return nil
  }

  /// `$XDG_CONFIG_HOME`, else `~/.config`.
  private static func configDirectory(_ environment: [String: String]) -> String? {
    if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return config }
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    return home.isEmpty ? nil : "\(home)/.config"
  }

  private static func read(_ path: String) throws -> Profile {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ValidationError("cannot read the profile \(path)")
    }
    do {
      return try Profile.decode(data)
    } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
      let key = context.codingPath.map(\.stringValue).joined(separator: ".")
      throw ValidationError("the profile \(path) is not valid: \(key) must be a string")
    } catch {
      throw ValidationError("the profile \(path) is not a JSON object of strings")
    }
  }
}
