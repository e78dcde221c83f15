import ArgumentParser
import Foundation

/// Where `--data` values come from: the value itself, `@FILE`, or `-` for stdin.
enum RequestInput {
  /// The JSON messages one `--data` value stands for. A literal is one message; a file or stdin
  /// may hold several, one after another, so one file can feed a client-streaming call.
  static func messages(_ value: String) throws -> [String] {
    if value == "-" {
      // Not readDataToEndOfFile(), which traps on a read error (a closed stdin, say).
      do {
        return self.split(try FileHandle.standardInput.readToEnd() ?? Data())
      } catch {
        throw ValidationError("cannot read --data from stdin: \(error.localizedDescription)")
      }
    }
    if value.hasPrefix("@") {
      let path = String(value.dropFirst())
      guard let contents = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read the --data file \(path)")
      }
      return self.split(contents)
    }
    return [value]
  }

  /// Splits text into its top-level JSON values by tracking brackets outside strings, so that a
  /// pretty-printed message may span lines. What does not balance is left for the JSON parser.
  static func split(_ data: Data) -> [String] {
    // A UTF-8 byte order mark (Windows editors write one) is no JSON: skipped, as imports skip it.
    let bytes = Array(data.starts(with: utf8ByteOrderMark) ? data.dropFirst(3) : data[...])
    var messages: [String] = []
    var start: Int?
    var depth = 0
    var inString = false
    var escaped = false
    func emit(_ end: Int) {
      if let first = start { messages.append(String(decoding: bytes[first..<end], as: UTF8.self)) }
      start = nil
      depth = 0
    }
    for (index, byte) in bytes.enumerated() {
      if inString {
        if escaped {
          escaped = false
        } else if byte == UInt8(ascii: "\\") {
          escaped = true
        } else if byte == UInt8(ascii: "\"") {
          inString = false
        }
        continue
      }
      let isSpace = Self.whitespace.contains(byte)
      if start == nil {
        if isSpace { continue }
        start = index
      }
      switch byte {
      case UInt8(ascii: "\""): inString = true
      case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
      case UInt8(ascii: "}"), UInt8(ascii: "]"):
        depth -= 1
        if depth <= 0 { emit(index + 1) }
      default:
        // A bare value at the top (not a message; the parser will say so) ends at whitespace.
        if isSpace, depth == 0 { emit(index) }
      }
    }
    emit(bytes.count)
    return messages
  }

  private static let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
}
