import TallyClient
import TallyProto
import TallyWire
import Testing

/// The email rates divide by the contacts delivered: sent, less those whose every email bounced.
@Suite struct EmailDeliveredTests {
  /// One contact with an email bounced and another opened, one with its email opened: both were
  /// delivered and both opened, 100 %. Counted as "sent − bounced" the rate was 2 / 1; with the
  /// first contact alone it had no base at all.
  @Test func aContactWithABounceAndAnOpenWasDelivered() async throws {
    try await DataTestContext.with { context in
      let rows: [(key: String, type: String, contact: String, campaign: String)] = [
        ("x-sent-1", "email_sent", "x", "c1"), ("x-sent-2", "email_sent", "x", "c2"),
        ("x-bounce", "email_bounced", "x", "c1"), ("x-open", "email_opened", "x", "c2"),
        ("y-sent", "email_sent", "y", "c1"), ("y-open", "email_opened", "y", "c1"),
        // A bounce alone, and an open of an email sent before the period: in neither side.
        ("z-sent", "email_sent", "z", "c1"), ("z-bounce", "email_bounced", "z", "c1"),
        ("w-open", "email_opened", "w", "c1"),
      ]
      _ = try await context.clientA.record(
        rows.map { row in
          var event = Fixture.event(row.key, type: row.type, at: "2026-03-10T10:00:00Z")
          (event.contactID, event.campaignID) = (row.contact, row.campaign)
          return event
        })
      var request = Tally_V1_GetKpisRequest()
      request.names = ["email_open_rate", "email_click_through_rate"]
      (request.from, request.to) = ("2026-03-01", "2026-04-01")
      let kpis = try await context.readerA.unary(KpiMethods.getKpis, request).kpis
      #expect(kpis[0].current.numerator == 2 && kpis[0].current.denominator == 2, "\(kpis[0].current)")
      #expect(kpis[1].current.numerator == 0 && kpis[1].current.denominator == 2, "\(kpis[1].current)")
    }
  }
}
