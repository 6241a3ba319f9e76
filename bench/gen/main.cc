// beacon-gen: writes site registries, sends realistic GA Universal v1 traffic with its ground
// truth, and verifies what landed in ClickHouse against that truth.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/gen/ground_truth.h"
#include "bench/gen/hit_sender.h"
#include "bench/gen/pcap_writer.h"
#include "bench/gen/request_log.h"
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

// The truth files of one run, or of the phases of one, added up.
TruthSummary ReadTruth(const std::vector<std::string>& paths) {
  TruthSummary sum;
  for (const std::string& path : paths) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read truth file '" + path + "'");
    sum.Add(TruthSummary::Read(in, path));
  }
  return sum;
}

// The sites of the model's registry that `registered_path`'s registry (beacond's) lacks.
std::set<uint32_t> UnregisteredSites(const kernels::SiteRegistry& model,
                                     const std::string& registered_path) {
  std::set<uint32_t> missing;
  if (registered_path.empty()) return missing;
  const kernels::SiteRegistry registered = kernels::SiteRegistry::Load(registered_path);
  for (const kernels::Site& site : model.sites()) missing.insert(site.site_id);
  for (const kernels::Site& site : registered.sites()) missing.erase(site.site_id);
  return missing;
}

// The model's options, shared by `send` and `truth` (which must rebuild the same requests).
void AddTrafficOptions(CLI::App* command, TrafficOptions* traffic) {
  command->add_option("--beacons", traffic->hits, "Hits to send")->capture_default_str();
  command->add_option("--seed", traffic->seed, "Seed")->capture_default_str();
  command->add_option("--malformed-share", traffic->malformed_share, "Share of malformed hits")
      ->capture_default_str();
  command->add_option("--bot-share", traffic->bot_share, "Share of bot hits")
      ->capture_default_str();
  command->add_flag("--flood", traffic->flood,
                    "Random paths, referrers, campaigns and event names; malformed hits are all "
                    "unknown_site");
}

struct TruthRebuild {
  std::string request_log, archived_tags, out;
  std::vector<std::string> add;
};

// `beacon-gen truth`: the acknowledged requests of the log, and those in doubt that the
// archive's tag list names, plus the --add truths. Exit 1 when an acknowledged request is not
// in the archive.
int RebuildTruthFile(const TrafficModel& model, const TruthRebuild& files) {
  std::ifstream log(files.request_log);
  if (!log) throw std::runtime_error("cannot read request log '" + files.request_log + "'");
  std::optional<std::unordered_set<uint64_t>> archived;
  if (!files.archived_tags.empty()) {
    std::ifstream tags(files.archived_tags);
    if (!tags) throw std::runtime_error("cannot read tag list '" + files.archived_tags + "'");
    archived = ReadTagList(tags, files.archived_tags);
  }
  const RebuiltTruth rebuilt = RebuildTruth(model, log, archived ? &*archived : nullptr);
  TruthSummary summary = rebuilt.truth.Summary();
  summary.Add(ReadTruth(files.add));
  std::ofstream out(files.out, std::ios::trunc);
  summary.Write(out);
  if (!out.flush()) throw std::runtime_error("cannot write truth file '" + files.out + "'");
  std::printf(
      "beacon-gen: %lu acknowledged requests (%lu not in the archive), %lu in doubt (%lu in the "
      "archive); %lu hits in the truth\n",
      rebuilt.acknowledged, rebuilt.acknowledged_not_archived, rebuilt.in_doubt,
      rebuilt.in_doubt_archived, summary.sent_hits);
  return rebuilt.acknowledged_not_archived == 0 ? 0 : 1;
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

  std::string target, sites_file, truth_path, registered_sites;
  std::vector<std::string> truth_paths;
  TrafficOptions traffic;
  SendOptions send_options;
  auto* send = app.add_subcommand("send", "Send generated hits and write the ground truth");
  send->add_option("--target", target, "Collector, http://127.0.0.1:PORT")->required();
  send->add_option("--sites-file", sites_file, "Site registry file")->required();
  AddTrafficOptions(send, &traffic);
  send->add_option("--connections", send_options.connections, "Connections (threads)")
      ->capture_default_str();
  send->add_option("--pipeline", send_options.pipeline, "Pipelined requests per connection")
      ->capture_default_str();
  send->add_option("--truth", truth_path, "Ground truth file to write")->required();
  std::string latency_path;
  send->add_option("--latency-out", latency_path,
                   "Write each answered request's latency (µs from its pipelined window's write "
                   "to its answer), one per line");
  send->add_option("--rate", send_options.rate, "Hits per second, 0 = unlimited")
      ->capture_default_str();
  send->add_option("--registered-sites", registered_sites,
                   "beacond's registry when it differs from --sites-file: hits of the sites it "
                   "lacks are expected as unknown_site rejects");
  send->add_option("--minute-guard-ms", send_options.minute_guard_ms,
                   "No event time this close before a minute boundary")
      ->capture_default_str();
  std::string request_log;
  send->add_option("--request-log", request_log,
                   "Tag each request and append its fate here (ack, or doubt when a lost "
                   "connection took its answer; not resent)");
  send->add_option("--reconnect-timeout-s", send_options.reconnect_timeout_s,
                   "Retry refused and lost connections until nothing was answered for this "
                   "long; 0: give up after 5 losses")
      ->capture_default_str();

  auto* agents = app.add_subcommand(
      "agents", "Print every user agent the model sends (browsers, then bots), one a line");

  TruthRebuild rebuild;
  auto* truth_cmd = app.add_subcommand(
      "truth", "Rebuild the exact truth of a run sent with --request-log from its model");
  truth_cmd->add_option("--sites-file", sites_file, "Site registry file")->required();
  AddTrafficOptions(truth_cmd, &traffic);
  truth_cmd->add_option("--request-log", rebuild.request_log, "The run's request log")->required();
  truth_cmd->add_option("--archived-tags", rebuild.archived_tags,
                        "Tags (z= values) found in beacond's archive: requests in doubt named here "
                        "count, acknowledged ones missing here are lost");
  truth_cmd->add_option("--add", rebuild.add,
                        "Add this truth file (e.g. relay traffic; no shared "
                        "visitors)");
  truth_cmd->add_option("--out", rebuild.out, "Truth file to write")->required();

  std::string clickhouse, metrics_url;
  VerifyOptions verify_options;
  auto* verify = app.add_subcommand("verify", "Compare ClickHouse and beacond with the truth");
  verify->add_option("--truth", truth_paths, "Ground truth file (repeated: the phases of a run)")
      ->required();
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
  wait->add_option("--truth", truth_paths, "Ground truth file (repeated: the phases of a run)")
      ->required();
  wait->add_option("--timeout-s", timeout_s, "Give up after this many seconds")
      ->capture_default_str();

  std::string pcap_out, frames_truth_path;
  RelayCaptureOptions capture;
  auto* pcap = app.add_subcommand(
      "pcap", "Write a UDP relay capture (hit batches, syslog lines, fragments, malformed frames)");
  pcap->add_option("--out", pcap_out, "pcap file to write")->required();
  pcap->add_option("--sites-file", sites_file, "Site registry file")->required();
  pcap->add_option("--truth", truth_path, "Ground truth of the hits (as `send` writes)")
      ->required();
  pcap->add_option("--frames-truth", frames_truth_path, "Ground truth of the frames")->required();
  pcap->add_option("--beacons", capture.hits, "Hits")->capture_default_str();
  pcap->add_option("--seed", capture.seed, "Seed")->capture_default_str();
  pcap->add_option("--malformed-share", capture.malformed_share, "Share of malformed hits")
      ->capture_default_str();
  pcap->add_option("--bot-share", capture.bot_share, "Share of bot hits")->capture_default_str();
  pcap->add_option("--syslog-share", capture.syslog_share, "Share of requests as syslog lines")
      ->capture_default_str();
  pcap->add_option("--ipv6-share", capture.ipv6_share, "Share of IPv6 datagrams")
      ->capture_default_str();
  pcap->add_option("--vlan-share", capture.vlan_share, "Share of VLAN-tagged frames")
      ->capture_default_str();
  pcap->add_option("--fragment-share", capture.fragment_share,
                   "Share of small datagrams fragmented on purpose")
      ->capture_default_str();
  pcap->add_option("--malformed-frames", capture.malformed_frames_per_class,
                   "Malformed frames per rejected class")
      ->capture_default_str();
  pcap->add_option("--incomplete-datagrams", capture.incomplete_datagrams,
                   "Fragmented datagrams with their last fragment lost")
      ->capture_default_str();
  pcap->add_option("--hit-batch-port", capture.hit_batch_port, "UDP port of hit batches")
      ->capture_default_str();
  pcap->add_option("--syslog-port", capture.syslog_port, "UDP port of syslog lines")
      ->capture_default_str();
  pcap->add_option("--time-ms", capture.time_ms, "Relay line time (unix ms); 0: now")
      ->capture_default_str();
  std::string send_to;
  double send_rate = 20'000;
  pcap->add_option(
      "--send-to", send_to,
      "Also send each beacon datagram over UDP to this IPv4 address (the kernel-socket "
      "relay, [udp]), on --hit-batch-port / --syslog-port");
  pcap->add_option("--send-rate", send_rate, "Datagrams per second for --send-to")
      ->capture_default_str();
  pcap->add_option("--mean-payload", capture.mean_payload,
                   "Pad datagrams towards this mean payload size in bytes; 0: no padding")
      ->capture_default_str();

  MirrorCaptureOptions mirror_capture;
  std::string mirror_truth_path;
  auto* mirror = app.add_subcommand(
      "mirror-pcap", "Write a passive HTTP mirror capture (mirrored TCP flows of HTTP requests)");
  mirror->add_option("--out", pcap_out, "pcap file to write")->required();
  mirror->add_option("--sites-file", sites_file, "Site registry file")->required();
  mirror->add_option("--truth", truth_path, "Ground truth of the hits (as `send` writes)")
      ->required();
  mirror->add_option("--mirror-truth", mirror_truth_path, "Ground truth of the mirror")->required();
  mirror->add_option("--beacons", mirror_capture.hits, "Hits")->capture_default_str();
  mirror->add_option("--seed", mirror_capture.seed, "Seed")->capture_default_str();
  mirror->add_option("--malformed-share", mirror_capture.malformed_share, "Share of malformed hits")
      ->capture_default_str();
  mirror->add_option("--bot-share", mirror_capture.bot_share, "Share of bot hits")
      ->capture_default_str();
  mirror->add_option("--ipv6-share", mirror_capture.ipv6_share, "Share of IPv6 flows")
      ->capture_default_str();
  mirror->add_option("--server-port", mirror_capture.server_port, "TCP port of the collector")
      ->capture_default_str();
  mirror
      ->add_option("--requests-per-flow", mirror_capture.max_requests_per_flow,
                   "Keep-alive: up to this many requests per flow")
      ->capture_default_str();
  mirror
      ->add_option("--pipelined-share", mirror_capture.pipelined_share,
                   "Flows cut at random (pipelining)")
      ->capture_default_str();
  mirror->add_option("--reorder-share", mirror_capture.reorder_share, "Segments swapped")
      ->capture_default_str();
  mirror->add_option("--retransmit-share", mirror_capture.retransmit_share, "Segments resent")
      ->capture_default_str();
  mirror
      ->add_option("--loss-share", mirror_capture.loss_share,
                   "Flows losing one segment (their request is not in the truth)")
      ->capture_default_str();
  mirror
      ->add_option("--other-requests", mirror_capture.other_requests,
                   "Requests to a non-beacon path")
      ->capture_default_str();
  mirror
      ->add_option("--malformed-requests", mirror_capture.malformed_requests,
                   "Requests the strict parser rejects")
      ->capture_default_str();
  mirror->add_option("--time-ms", mirror_capture.time_ms, "The truth's time (unix ms); 0: now")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (mirror->parsed()) {
    const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(sites_file);
    PcapWriter writer(pcap_out);
    const MirrorCaptureTruth truth = WriteMirrorCapture(registry, mirror_capture, &writer);
    writer.Close();
    std::ofstream hits_out(truth_path, std::ios::trunc);
    truth.hits.Write(hits_out);
    std::ofstream mirror_out(mirror_truth_path, std::ios::trunc);
    truth.Write(mirror_out);
    if (!hits_out.flush() || !mirror_out.flush()) {
      throw std::runtime_error("cannot write truth files '" + truth_path + "', '" +
                               mirror_truth_path + "'");
    }
    std::printf("beacon-gen: %lu segments, %lu flows, %lu beacon requests (%lu lost), %lu hits\n",
                truth.segments, truth.flows, truth.beacons, truth.lost_requests,
                truth.hits.sent_hits);
    return 0;
  }

  if (sites->parsed()) {
    WriteFile(sites_out, SiteRegistryText(site_count, seed));
    std::cout << "wrote " << site_count << " sites to " << sites_out << "\n";
    return 0;
  }
  if (send->parsed()) {
    send_options.target = ParseHttpTarget(target);
    const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(sites_file);
    traffic.unregistered_sites = UnregisteredSites(registry, registered_sites);
    const TrafficModel model(registry, traffic);
    std::optional<RequestLog> log;
    if (!request_log.empty()) send_options.log = &log.emplace(request_log);
    const SendReport report = SendTraffic(model, send_options);
    std::ofstream out(truth_path, std::ios::trunc);
    report.truth.Summary().Write(out);
    if (!out.flush()) throw std::runtime_error("cannot write truth file '" + truth_path + "'");
    if (!latency_path.empty()) {
      std::string lines;
      for (const uint32_t us : report.latency_us) lines += std::to_string(us) + "\n";
      WriteFile(latency_path, lines);
    }
    std::printf(
        "beacon-gen: %lu hits, %lu requests, %.1f MB, %.2f s, %.0f hits/s (503 resends %lu, "
        "reconnects %lu, in doubt %lu)\n",
        report.hits, report.requests, static_cast<double>(report.bytes) / 1e6, report.seconds,
        report.seconds > 0 ? static_cast<double>(report.hits) / report.seconds : 0.0,
        report.resends_503, report.reconnects, report.in_doubt);
    for (const auto& [status, n] : report.unexpected_status) {
      std::fprintf(stderr, "beacon-gen: %lu requests answered with unexpected HTTP %d\n", n,
                   status);
    }
    if (!report.failure.empty()) std::fprintf(stderr, "beacon-gen: %s\n", report.failure.c_str());
    return report.ok() ? 0 : 1;
  }
  if (agents->parsed()) {
    for (const HumanAgent& agent : HumanAgents()) std::cout << agent.user_agent << "\n";
    for (const std::string_view agent : BotAgents()) std::cout << agent << "\n";
    return 0;
  }
  if (truth_cmd->parsed()) {
    const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(sites_file);
    return RebuildTruthFile(TrafficModel(registry, traffic), rebuild);
  }
  if (pcap->parsed()) {
    const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(sites_file);
    PcapWriter writer(pcap_out);
    DatagramCallback send_datagram;
    const int fd = send_to.empty() ? -1 : socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    uint64_t sent = 0;
    const auto started = std::chrono::steady_clock::now();
    if (!send_to.empty()) {
      to.sin_family = AF_INET;
      if (inet_pton(AF_INET, send_to.c_str(), &to.sin_addr) != 1) {
        throw std::runtime_error("--send-to '" + send_to + "' is not an IPv4 address");
      }
      send_datagram = [&](uint16_t port, std::string_view payload) {
        to.sin_port = htons(port);
        if (sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof(to)) != static_cast<ssize_t>(payload.size())) {
          throw std::runtime_error("sendto " + send_to + ":" + std::to_string(port) + " failed");
        }
        // Paced, so that the receiver's socket buffer never overflows (UDP loses silently).
        const auto due = started + std::chrono::duration<double>(++sent / send_rate);
        std::this_thread::sleep_until(due);
      };
    }
    const RelayCaptureTruth truth = WriteRelayCapture(registry, capture, &writer, send_datagram);
    if (fd >= 0) close(fd);
    writer.Close();
    std::ofstream hits_out(truth_path, std::ios::trunc);
    truth.hits.Write(hits_out);
    std::ofstream frames_out(frames_truth_path, std::ios::trunc);
    truth.Write(frames_out);
    if (!hits_out.flush() || !frames_out.flush()) {
      throw std::runtime_error("cannot write truth files '" + truth_path + "', '" +
                               frames_truth_path + "'");
    }
    std::printf(
        "beacon-gen: %lu frames, %lu beacon datagrams (%lu reassembled), %.1f B mean "
        "payload, %lu hits\n",
        writer.frames(), truth.datagrams, truth.reassembled,
        truth.datagrams > 0
            ? static_cast<double>(truth.payload_bytes) / static_cast<double>(truth.datagrams)
            : 0.0,
        truth.hits.sent_hits);
    return 0;
  }
  if (verify->parsed()) {
    return Verify(ReadTruth(truth_paths), verify_options, std::cout) ? 0 : 1;
  }
  return WaitForMetrics(ReadTruth(truth_paths), metrics_url, timeout_s, std::cout) ? 0 : 1;
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
