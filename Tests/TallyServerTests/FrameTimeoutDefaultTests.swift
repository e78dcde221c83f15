import TallyCore
import TallyWire
import Testing

/// The frame timeout a configuration gets when it sets `max_frame_payload` and no timeout: the
/// default maximum named explicitly once gave 64 s where leaving it out gave 60 s.
@Suite struct FrameTimeoutDefaultTests {
  @Test func theDefaultMaximumKeepsTheDefaultTimeout() {
    #expect(ServerLimits.defaultFrameTimeout(maxFramePayload: Frame.defaultMaxPayload) == ServerLimits().frameTimeout)
    #expect(ServerLimits().frameTimeout == .seconds(60))
  }

  @Test func aLargerMaximumGrowsTheTimeoutInProportion() {
    #expect(ServerLimits.defaultFrameTimeout(maxFramePayload: 8 << 20) == .seconds(120))
    #expect(ServerLimits.defaultFrameTimeout(maxFramePayload: 64 << 20) == .seconds(960))
    #expect(ServerLimits.defaultFrameTimeout(maxFramePayload: (4 << 20) + 1) >= .seconds(60))
  }
}
