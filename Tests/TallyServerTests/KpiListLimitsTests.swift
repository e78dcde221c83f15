import Foundation
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Lists of client-made ids in KPI answers stop at 1,000, first in their order: past some 5,000
/// long ids the answer passed the largest frame and the whole call failed.
@Suite struct KpiListLimitsTests {
  @Test func ctasAndRepsStopAtAThousand() async throws {
    try await DataTestContext.with { context in
      let yesterday = Date().addingTimeInterval(-86_400)
      let formatter = ISO8601DateFormatter()
      let at = formatter.string(from: yesterday)
      var events: [Tally_V1_Event] = []
      for index in 0...1_000 {
        // The first CTA is viewed twice, so that it leads the list; the first rep sends two emails.
        for repeat_ in 0..<(index == 0 ? 2 : 1) {
          var view = Fixture.event("view-\(index)-\(repeat_)", type: "cta_view", at: at)
          view.assetID = "asset-\(index)"
          var email = Fixture.event("email-\(index)-\(repeat_)", type: "sales_email", at: at)
          email.repID = "rep-\(index)"
          events += [view, email]
        }
      }
      let batches = stride(from: 0, to: events.count, by: 1_000).map {
        Array(events[$0..<min($0 + 1_000, events.count)])
      }
      let stored = try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
        for batch in batches {
          var request = Tally_V1_RecordEventsRequest()
          request.events = batch
          try await writer.send(request)
        }
      }
      #expect(stored.accepted == UInt64(events.count))

      let journey = try await context.readerA.unary(KpiMethods.getJourney, Tally_V1_GetJourneyRequest())
      #expect(journey.ctas.count == 1_000)
      #expect(journey.ctas.first?.assetID == "asset-0" && journey.ctas.first?.views == 2)

      var request = Tally_V1_GetRepActivityRequest()
      let day = String(formatter.string(from: yesterday).prefix(10))
      let next = String(formatter.string(from: yesterday.addingTimeInterval(86_400)).prefix(10))
      (request.from, request.to) = (day, next)
      let reps = try await context.readerA.unary(KpiMethods.getRepActivity, request).reps
      #expect(reps.count == 1_000)
      #expect(reps.first?.repID == "rep-0" && reps.first?.salesEmails == 2)
    }
  }
}
