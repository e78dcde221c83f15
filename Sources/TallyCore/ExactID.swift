import Foundation

/// A row's text id as PostgreSQL compares it: by its UTF-8 bytes. Swift's `==` on `String` also
/// equates canonically equivalent spellings ("é" and "e" + U+0301), which are two ids there, so
/// a set or dictionary of ids from rows keys them with this instead. Ordered by bytes too, as the
/// database's C collation orders them.
struct ExactID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
  let text: String

  init(_ text: String) { self.text = text }

  init(stringLiteral text: String) { self.text = text }

  var description: String { self.text }

  /// By `memcmp`: `utf8.elementsEqual` walks a byte at a time, and the survey question cache
  /// compares a survey's questions (hundreds of bytes) for every SubmitResponse batch.
  static func == (lhs: ExactID, rhs: ExactID) -> Bool {
    var (left, right) = (lhs.text, rhs.text)  // native strings are contiguous UTF-8 already: no copy
    return left.withUTF8 { a in
      right.withUTF8 { b in a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
    }
  }

  static func < (lhs: ExactID, rhs: ExactID) -> Bool { lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8) }

  func hash(into hasher: inout Hasher) {
    var text = self.text  // native strings are contiguous UTF-8 already: no copy is made
    text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
  }
}
