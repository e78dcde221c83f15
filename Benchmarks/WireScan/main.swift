// Scans one RecordEvents message of 1,000 events with 5 properties each, as many times as asked.
let bytes = ByteBuffer(bytes: payload(events: 1_000, properties: 5))
var within = 0
for _ in 0..<Int(CommandLine.arguments[1])! {
  if textIsStreamSafe(bytes), case .withinLimits = WireFieldLimit.count(limits, in: bytes) { within += 1 }
}
print(within, bytes.bytes.count)
