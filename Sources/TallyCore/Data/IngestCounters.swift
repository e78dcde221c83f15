public import CoreMetrics

/// What RecordEvents did with the events it was sent, for the operator's metrics. The call counts
/// show how often a feed calls; these show how much it stored, and a feed that resends or sends
/// bad events shows up here.
public struct IngestCounters: Sendable {
  /// Events stored: their key was new to the tenant.
  let stored: any CounterHandler
  /// Events not stored again: their key was stored before, or repeated within the batch.
  let duplicates: any CounterHandler
  /// Events refused by validation (each one is listed in the call's `rejections`).
  let rejected: any CounterHandler

  public init(stored: any CounterHandler, duplicates: any CounterHandler, rejected: any CounterHandler) {
    self.stored = stored
    self.duplicates = duplicates
    self.rejected = rejected
  }

  /// Counts nothing: for servers that export no metrics.
  public static let none = IngestCounters(
    stored: NOOPMetricsHandler.instance, duplicates: NOOPMetricsHandler.instance,
    rejected: NOOPMetricsHandler.instance)

  func count(_ outcome: EventService.BatchOutcome) {
    if outcome.accepted > 0 { self.stored.increment(by: Int64(outcome.accepted)) }
    if outcome.duplicates > 0 { self.duplicates.increment(by: Int64(outcome.duplicates)) }
    if !outcome.rejections.isEmpty { self.rejected.increment(by: Int64(outcome.rejections.count)) }
  }
}
