public import Foundation

/// The JSON of every result file: snake_case keys, sorted and indented, so that runs diff well.
public enum BenchJSON {
  public static func encode(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(value)
  }

  public static func write(_ value: some Encodable, to path: String) throws {
    try Self.encode(value).write(to: URL(fileURLWithPath: path))
  }

  public static func read<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(T.self, from: Data(contentsOf: url))
  }
}
