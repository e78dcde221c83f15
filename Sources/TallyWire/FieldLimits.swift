/// Limits of the data contract that both sides check: the server refuses a value past them, and
/// the client's importers refuse it before sending.
public enum FieldLimits {
  /// The most an amount of money may be, in minor units: 10^15 (ten trillion in a currency of
  /// cents). The KPIs add up many amounts in 64 bits, and only a ceiling keeps those sums countable.
  public static let maxMoney: Int64 = 1_000_000_000_000_000
}
