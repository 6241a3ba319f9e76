// beacon-gen: writes site registries, sends realistic GA Universal v1 traffic with its ground
// truth, and verifies what landed in ClickHouse against that truth.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "bench/gen/ground_truth.h"
#include "bench/gen/hit_sender.h"
#include "bench/gen/traffic_model.h"
#include "bench/gen/verify.h"
#include "kernels/site_registry.h"

namespace beacon::bench {
namespace {

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write '" + path + "'");
}

TruthSummary ReadTruth(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read truth file '" + path + "'");
  return TruthSummary::Read(in, path);
}

int Run(int argc, char** argv) {
  CLI::App app{"beacon-gen: realistic GA Universal v1 traffic with ground truth"};
  app.require_subcommand(1);

  uint32_t site_count = 100;
  uint64_t seed = 1;
  std::string sites_out;
  auto* sites = app.add_subcommand("sites", "Write a site registry file");
  sites->add_option("--sites", site_count, "Number of sites")->capture_default_str();
  sites->add_option("--seed", seed, "Seed")->capture_default_str();
  sites->add_option("--out", sites_out, "Registry file to write")->required();

  std::string target, sites_file, truth_path;
  TrafficOptions traffic;
  SendOptions send_options;
  auto* send = app.add_subcommand("send", "Send generated hits and write the ground truth");
  send->add_option("--target", target, "Collector, http://127.0.0.1:PORT")->required();
  send->add_option("--sites-file", sites_file, "Site registry file")->required();
  send->add_option("--beacons", traffic.hits, "Hits to send")->capture_default_str();
  send->add_option("--seed", traffic.seed, "Seed")->capture_default_str();
  send->add_option("--connections", send_options.connections, "Connections (threads)")
      ->capture_default_str();
  send->add_option("--pipeline", send_options.pipeline, "Pipelined requests per connection")
      ->capture_default_str();
  send->add_option("--truth", truth_path, "Ground truth file to write")->required();
  send->add_option("--malformed-share", traffic.malformed_share, "Share of malformed hits")
      ->capture_default_str();
  send->add_option("--bot-share", traffic.bot_share, "Share of bot hits")->capture_default_str();
  send->add_option("--rate", send_options.rate, "Hits per second, 0 = unlimited")
      ->capture_default_str();
  send->add_option("--minute-guard-ms", send_options.minute_guard_ms,
                   "No event time this close before a minute boundary")
      ->capture_default_str();

  std::string clickhouse, metrics_url;
  VerifyOptions verify_options;
  auto* verify = app.add_subcommand("verify", "Compare ClickHouse and beacond with the truth");
  verify->add_option("--truth", truth_path, "Ground truth file")->required();
  verify->add_option("--clickhouse", verify_options.clickhouse_url, "ClickHouse HTTP URL")
      ->capture_default_str();
  verify->add_option("--database", verify_options.database, "Database")->capture_default_str();
  verify->add_option("--metrics-url", verify_options.metrics_url, "beacond /metrics URL");
  verify
      ->add_option("--visitor-error", verify_options.visitor_error,
                   "Allowed relative error of unique visitors")
      ->capture_default_str();

  double timeout_s = 30;
  auto* wait = app.add_subcommand("wait-metrics", "Wait until beacond counted every sent hit");
  wait->add_option("--metrics-url", metrics_url, "beacond /metrics URL")->required();
  wait->add_option("--truth", truth_path, "Ground truth file")->required();
  wait->add_option("--timeout-s", timeout_s, "Give up after this many seconds")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (sites->parsed()) {
    WriteFile(sites_out, SiteRegistryText(site_count, seed));
    std::cout << "wrote " << site_count << " sites to " << sites_out << "\n";
    return 0;
  }
  if (send->parsed()) {
    send_options.target = ParseHttpTarget(target);
    const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(sites_file);
    const TrafficModel model(registry, traffic);
    const SendReport report = SendTraffic(model, send_options);
    std::ofstream out(truth_path, std::ios::trunc);
    report.truth.Summary().Write(out);
    if (!out.flush()) throw std::runtime_error("cannot write truth file '" + truth_path + "'");
    std::printf(
        "beacon-gen: %lu hits, %lu requests, %.1f MB, %.2f s, %.0f hits/s (503 resends %lu, "
        "reconnects %lu)\n",
        report.hits, report.requests, static_cast<double>(report.bytes) / 1e6, report.seconds,
        report.seconds > 0 ? static_cast<double>(report.hits) / report.seconds : 0.0,
        report.resends_503, report.reconnects);
    for (const auto& [status, n] : report.unexpected_status) {
      std::fprintf(stderr, "beacon-gen: %lu requests answered with unexpected HTTP %d\n", n,
                   status);
    }
    if (!report.failure.empty()) std::fprintf(stderr, "beacon-gen: %s\n", report.failure.c_str());
    return report.ok() ? 0 : 1;
  }
  if (verify->parsed()) {
    return Verify(ReadTruth(truth_path), verify_options, std::cout) ? 0 : 1;
  }
  return WaitForMetrics(ReadTruth(truth_path), metrics_url, timeout_s, std::cout) ? 0 : 1;
}

}  // namespace
}  // namespace beacon::bench

int main(int argc, char** argv) {
  try {
    return beacon::bench::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beacon-gen: %s\n", e.what());
    return 1;
  }
}
