import ArgumentParser

/// `tally-bench`: load scenarios against a running tallyd, with latency percentiles and the
/// server's CPU and memory (docs/BENCHMARKS.md).
@main
struct TallyBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tally-bench", abstract: "Load scenarios against a running tallyd.",
    subcommands: [
      SeedCommand.self, PingScenario.self, IngestScenario.self, SubmitScenario.self, KpiScenario.self,
      IdleScenario.self, NeighbourScenario.self,
      EchoServerCommand.self, CopyBaseline.self, SQLBaseline.self, ResultsTable.self,
    ])
}
